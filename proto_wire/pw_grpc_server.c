/* proto_wire/pw_grpc_server: method registry, per-connection state and the HTTP/2 callbacks
 * that turn streams into calls. See pw_grpc_server.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_server_int.h"

/* ---- registry ---- */

static uint32_t path_hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a: short keys, read-only table */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

pw_grpc_server *pw_grpc_server_create(const pw_grpc_server_config *cfg)
{
    pw_grpc_server *s = rt_calloc(1, sizeof *s);
    if (!s) return NULL;
    if (cfg) s->cfg = *cfg;
    if (!s->cfg.max_recv_message_bytes)
        s->cfg.max_recv_message_bytes = PW_GRPC_MAX_MSG_BYTES_DEFAULT;
    if (!s->cfg.max_send_message_bytes)
        s->cfg.max_send_message_bytes = PW_GRPC_MAX_MSG_BYTES_DEFAULT;
    if (!s->cfg.max_concurrent_streams)
        s->cfg.max_concurrent_streams = PW_H2_DEFAULT_MAX_CONCURRENT_STREAMS;
    if (!s->cfg.initial_window_bytes) s->cfg.initial_window_bytes = 1024 * 1024;
    if (!s->cfg.conn_window_bytes) s->cfg.conn_window_bytes = 16 * 1024 * 1024;
    if (!s->cfg.max_header_list_bytes)
        s->cfg.max_header_list_bytes = PW_H2_DEFAULT_MAX_HEADER_LIST_BYTES;
    for (size_t i = 0; i < PW_GRPC_PATH_SLOTS; i++) s->slots[i] = -1;
    return s;
}

void pw_grpc_server_destroy(pw_grpc_server *s) { rt_free(s); }

const pw_grpc_method *pw_grpc_server_find(const pw_grpc_server *s, const char *path, size_t len)
{
    uint32_t h = path_hash(path, len) % PW_GRPC_PATH_SLOTS;
    for (size_t i = 0; i < PW_GRPC_PATH_SLOTS; i++) {
        int16_t k = s->slots[(h + i) % PW_GRPC_PATH_SLOTS];
        if (k < 0) return NULL;
        const char *mp = s->methods[k].path;
        if (strlen(mp) == len && memcmp(mp, path, len) == 0) return &s->methods[k];
    }
    return NULL;
}

int pw_grpc_server_add_method(pw_grpc_server *s, const pw_grpc_method *m)
{
    size_t len = strlen(m->path);
    if (pw_grpc_server_find(s, m->path, len)) return -EEXIST;
    if (s->nmethods >= PW_GRPC_METHODS_MAX) return -ENOSPC;
    s->methods[s->nmethods] = *m;
    uint32_t h = path_hash(m->path, len) % PW_GRPC_PATH_SLOTS;
    while (s->slots[h] >= 0) h = (h + 1) % PW_GRPC_PATH_SLOTS;
    s->slots[h] = (int16_t)s->nmethods;
    s->nmethods++;
    return 0;
}

void pw_grpc_server_set_guard(pw_grpc_server *s, pw_grpc_guard_fn fn) { s->guard = fn; }

size_t pw_grpc_server_nmethods(const pw_grpc_server *s) { return s->nmethods; }
const pw_grpc_method *pw_grpc_server_method_at(const pw_grpc_server *s, size_t i)
{
    return i < s->nmethods ? &s->methods[i] : NULL;
}

/* ---- request headers ---- */

static bool view_is(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(p, lit, l) == 0;
}

/* application/grpc, application/grpc+proto, application/grpc;charset=... (PROTOCOL-HTTP2.md). */
static bool grpc_content_type(const char *p, size_t n)
{
    static const char base[] = "application/grpc";
    size_t bl = sizeof base - 1;
    if (n < bl || strncasecmp(p, base, bl) != 0) return false;
    return n == bl || p[bl] == '+' || p[bl] == ';';
}

/* A request field kept as custom metadata: not a pseudo-header, content-type, te or grpc-*. */
static bool md_wanted(const pw_h2_header *h)
{
    if (h->name_len == 0 || h->name[0] == ':') return false;
    return !view_is(h->name, h->name_len, "content-type") && !view_is(h->name, h->name_len, "te") &&
           !pw_grpc_md_is_reserved(h->name, h->name_len);
}

/* Which fields of a request list keep_metadata copies, into rq's md_* (the memo keeps them for
 * the next identical list): the wanted ones in order, up to PW_GRPC_MD_MAX fields and
 * PW_GRPC_MD_BYTES_MAX bytes (the first that does not fit ends the scan). */
static void md_scan(const pw_h2_header *h, size_t n, pw_grpc_req_memo *rq)
{
    size_t bytes = 0, count = 0;
    uint64_t mask = 0;
    for (size_t i = 0; i < n; i++) {
        if (!md_wanted(&h[i])) continue;
        if (count == PW_GRPC_MD_MAX ||
            bytes + h[i].name_len + h[i].value_len + 2 > PW_GRPC_MD_BYTES_MAX)
            break;
        count++;
        bytes += h[i].name_len + h[i].value_len + 2;
        if (i < 64) mask |= (uint64_t)1 << i;
    }
    rq->md_all = n > 64;
    rq->md_mask = mask;
    rq->md_count = (uint32_t)count;
    rq->md_bytes = (uint32_t)bytes;
}

/* Copies the custom metadata md_scan chose into one owned block. Returns 0 or -ENOMEM. */
static int keep_metadata(pw_grpc_call *c, const pw_h2_header *h, size_t n,
                         const pw_grpc_req_memo *rq)
{
    const size_t count = rq->md_count;
    if (count == 0) return 0;
    const size_t need = count * sizeof(pw_grpc_md) + rq->md_bytes;
    uint8_t *block = need <= sizeof c->md_inline ? c->md_inline : rt_malloc(need);
    if (!block) return -ENOMEM;
    pw_grpc_md *md = (pw_grpc_md *)block;
    uint8_t *store = block + count * sizeof(pw_grpc_md);
    size_t k = 0;
    for (size_t i = 0; i < n && k < count; i++) {
        if (rq->md_all ? !md_wanted(&h[i]) : !((rq->md_mask >> i) & 1)) continue;
        memcpy(store, h[i].name, h[i].name_len);
        store[h[i].name_len] = 0;
        md[k].name = (const char *)store;
        store += h[i].name_len + 1;
        size_t vlen = h[i].value_len;
        if (pw_grpc_md_is_bin(h[i].name, h[i].name_len)) {
            long d = pw_b64_decode(store, h[i].value, h[i].value_len);
            if (d < 0) {
                memcpy(store, h[i].value, vlen); /* undecodable: keep it as sent */
            } else {
                vlen = (size_t)d;
            }
        } else {
            memcpy(store, h[i].value, vlen);
        }
        store[vlen] = 0;
        md[k].value = store;
        md[k].value_len = vlen;
        store += h[i].value_len + 1;
        k++;
    }
    c->md = md;
    c->nmd = k;
    return 0;
}

/* ---- HTTP/2 callbacks ---- */

/* Reads a request's header list into *rq (method, compression, timeout); answers the stream and
 * returns false when the request is refused (not gRPC, unknown method, bad encoding or
 * timeout). Depends only on the list and the connection's server: a list the session names as
 * the same (pw_h2_session_hblock_id) gives the same *rq (the connection's memo). */
static bool parse_request(pw_grpc_conn *g, uint32_t sid, const pw_h2_header *h, size_t n,
                          pw_grpc_req_memo *rq)
{
    pw_h2_session *h2 = g->h2;
    const char *method = NULL, *path = NULL, *ctype = NULL, *timeout = NULL, *enc = NULL,
               *accept = NULL, *authz = "";
    size_t method_n = 0, path_n = 0, ctype_n = 0, timeout_n = 0, enc_n = 0, accept_n = 0,
           authz_n = 0;
    for (size_t i = 0; i < n; i++) {
        const char *nm = h[i].name;
        size_t nl = h[i].name_len;
        if (view_is(nm, nl, ":method")) {
            method = h[i].value;
            method_n = h[i].value_len;
        } else if (view_is(nm, nl, ":path")) {
            path = h[i].value;
            path_n = h[i].value_len;
        } else if (view_is(nm, nl, "content-type")) {
            ctype = h[i].value;
            ctype_n = h[i].value_len;
        } else if (view_is(nm, nl, "grpc-timeout")) {
            timeout = h[i].value;
            timeout_n = h[i].value_len;
        } else if (view_is(nm, nl, "grpc-encoding")) {
            enc = h[i].value;
            enc_n = h[i].value_len;
        } else if (view_is(nm, nl, "grpc-accept-encoding")) {
            accept = h[i].value;
            accept_n = h[i].value_len;
        } else if (view_is(nm, nl, "authorization")) {
            authz = h[i].value;
            authz_n = h[i].value_len;
        }
    }
    bool is_grpc = method && view_is(method, method_n, "POST") && ctype &&
                   grpc_content_type(ctype, ctype_n);
    if (!is_grpc && g->plain && !(path && pw_grpc_server_find(g->srv, path, path_n))) {
        pw_grpc_plain_req pr = {.stream_id = sid,
                                .method = method ? method : "",
                                .method_len = method_n,
                                .path = path ? path : "",
                                .path_len = path_n,
                                .authorization = authz,
                                .authorization_len = authz_n};
        pw_grpc_plain_respond(g, sid, &pr);
        return false;
    }
    if (!method || !view_is(method, method_n, "POST")) {
        pw_grpc_respond_http_error(h2, sid, "405");
        return false;
    }
    if (!ctype || !grpc_content_type(ctype, ctype_n)) {
        pw_grpc_respond_http_error(h2, sid, "415");
        return false;
    }
    rq->m = path ? pw_grpc_server_find(g->srv, path, path_n) : NULL;
    if (!rq->m) {
        pw_grpc_respond_status(g, sid, PW_GRPC_UNIMPLEMENTED, "unknown service or method");
        return false;
    }
    rq->gz = false;
    if (enc && !view_is(enc, enc_n, "identity")) {
        if (!view_is(enc, enc_n, "gzip")) {
            pw_grpc_respond_status(g, sid, PW_GRPC_UNIMPLEMENTED,
                                   "unsupported grpc-encoding (supported: identity, gzip)");
            return false;
        }
        rq->gz = true;
    }
    rq->tmo = UINT64_MAX;
    if (timeout && pw_grpc_timeout_parse(timeout, timeout_n, &rq->tmo) != 0) {
        pw_grpc_respond_status(g, sid, PW_GRPC_INTERNAL, "malformed grpc-timeout");
        return false;
    }
    rq->accept_gzip = accept && pw_grpc_list_has(accept, accept_n, "gzip");
    return true;
}

static int on_headers(void *ud, uint32_t sid, const pw_h2_header *h, size_t n, unsigned flags)
{
    pw_grpc_conn *g = ud;
    if (flags & PW_H2_HF_TRAILERS) {
        /* Clients do not send trailers in gRPC; treat them as the end of the request. */
        pw_grpc_call *c = pw_h2_stream_get_user(g->h2, sid);
        if (c && (flags & PW_H2_HF_END_STREAM)) {
            c->client_half_closed = true;
            if (pw_grpc_deframer_finish(&c->df) != 0 && !c->done)
                pw_grpc_call_finish(c, PW_GRPC_INTERNAL, "request ended inside a message");
            else if (!c->done && c->m->on_half_close) c->m->on_half_close(c);
        }
        return 0;
    }
    /* The list the last accepted request had: its reading again is skipped (the session's
     * decoded-block cache names it; a gRPC client's requests repeat their headers). */
    pw_grpc_req_memo rq;
    const uint64_t id = pw_h2_session_hblock_id(g->h2);
    if (id && id == g->memo.id) {
        rq = g->memo;
        g->memo_hits++;
    } else if (!parse_request(g, sid, h, n, &rq)) {
        return 0;
    } else {
        md_scan(h, n, &rq);
        if (id) {
            rq.id = id;
            g->memo = rq;
        }
    }
    const pw_grpc_method *m = rq.m;
    const uint64_t tmo = rq.tmo;
    pw_grpc_call *c = pw_grpc_call_new(g, sid, m);
    if (!c || keep_metadata(c, h, n, &rq) < 0) {
        if (c) pw_grpc_call_detach(c);
        pw_grpc_respond_status(g, sid, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return 0;
    }
    c->req_gzip = rq.gz;
    c->accept_gzip = rq.accept_gzip;
    pw_grpc_deframer_set_compression(&c->df, rq.gz);
    if (tmo != UINT64_MAX) {
        c->deadline_ns = g->now_ns + tmo;
        if (c->deadline_ns < g->now_ns) c->deadline_ns = UINT64_MAX - 1;
    }
    if (g->srv->guard && !g->srv->guard(c, c->m)) {
        /* Ended by the guard: later DATA finds the call done, the method never runs. */
        if (!c->done) pw_grpc_call_finish(c, PW_GRPC_INTERNAL, "refused");
        return 0;
    }
    if (c->m->on_start) c->m->on_start(c);
    if ((flags & PW_H2_HF_END_STREAM) && !c->done) {
        c->client_half_closed = true;
        if (c->m->kind == PW_GRPC_UNARY || c->m->kind == PW_GRPC_SERVER_STREAMING)
            pw_grpc_call_finish(c, PW_GRPC_INTERNAL, "request has no message");
        else if (c->m->on_half_close) c->m->on_half_close(c);
    }
    return 0;
}

static void half_close(pw_grpc_call *c);

/* Delivers one decoded (and decompressed) request message. `last` says the stream ends right
 * after it (END_STREAM in the same DATA frame, the usual unary case): then a unary request is
 * handed to the handler straight from the receive buffer, with no copy. */
static void deliver(pw_grpc_call *c, const pw_grpc_msg *msg, bool last)
{
    const uint8_t *p = msg->ptr;
    size_t len = msg->len;
    buf plain;
    buf_init(&plain, c->conn->srv->cfg.max_recv_message_bytes + 1);
    if (msg->compressed) {
        int r = pw_gzip_decompress(pw_grpc_gzip(), p, len, c->conn->srv->cfg.max_recv_message_bytes,
                                   &plain);
        if (r != 0) {
            buf_deinit(&plain);
            pw_grpc_call_finish(
                c, r == PW_GZIP_ERR_CORRUPT ? PW_GRPC_INTERNAL : PW_GRPC_RESOURCE_EXHAUSTED,
                r == PW_GZIP_ERR_CORRUPT ? "corrupt gzip message"
                                         : "decompressed message larger than the limit");
            return;
        }
        p = buf_size(&plain) ? buf_begin(&plain) : (const uint8_t *)"";
        len = buf_size(&plain);
    }
    c->last_compressed = msg->compressed;
    if (c->m->kind == PW_GRPC_UNARY || c->m->kind == PW_GRPC_SERVER_STREAMING) {
        if (last && c->nreq == 0 && pw_grpc_deframer_at_boundary(&c->df)) {
            c->nreq = 1;
            c->client_half_closed = true;
            pw_grpc_call_ref(c);
            c->m->on_message(c, p, len);
            if (!c->done && c->m->on_half_close) c->m->on_half_close(c);
            c->delivered_unary = true;
            pw_grpc_call_unref(c);
        } else if (++c->nreq > 1) {
            pw_grpc_call_finish(c, PW_GRPC_INTERNAL,
                                "more than one request message for a unary call");
        } else {
            c->held = rt_malloc(len ? len : 1);
            if (!c->held) {
                pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
            } else {
                memcpy(c->held, p, len);
                c->held_len = len;
                c->held_compressed = msg->compressed;
            }
        }
    } else {
        c->m->on_message(c, p, len);
    }
    buf_deinit(&plain);
}

static void half_close(pw_grpc_call *c)
{
    c->client_half_closed = true;
    int r = pw_grpc_deframer_finish(&c->df);
    if (r != 0) {
        pw_grpc_call_finish(c, PW_GRPC_INTERNAL, pw_grpc_deframe_strerror(r));
        return;
    }
    if (c->m->kind == PW_GRPC_UNARY || c->m->kind == PW_GRPC_SERVER_STREAMING) {
        if (c->nreq != 1) {
            pw_grpc_call_finish(c, PW_GRPC_INTERNAL, "request has no message");
            return;
        }
        uint8_t *held = c->held;
        c->held = NULL;
        c->last_compressed = c->held_compressed;
        pw_grpc_call_ref(c);
        c->m->on_message(c, held, c->held_len);
        rt_free(held);
        if (!c->done && c->m->on_half_close) c->m->on_half_close(c);
        pw_grpc_call_unref(c);
        return;
    }
    if (c->m->on_half_close) c->m->on_half_close(c);
}

static int on_data(void *ud, uint32_t sid, const uint8_t *p, size_t n, bool end_stream)
{
    pw_grpc_conn *g = ud;
    pw_grpc_call *c = pw_h2_stream_get_user(g->h2, sid);
    (void)pw_h2_consume(g->h2, sid, n); /* n was just delivered: -EINVAL cannot happen; the
                                          * messages are handled (or copied) synchronously below */
    if (!c || c->done) return 0;
    pw_grpc_call_ref(c);
    pw_grpc_msg msg;
    int r;
    while (!c->done && (r = pw_grpc_deframe(&c->df, &p, &n, &msg)) == 1)
        deliver(c, &msg, end_stream && n == 0);
    if (!c->done && r < 0)
        pw_grpc_call_finish(c, pw_grpc_deframe_err_status(r), pw_grpc_deframe_strerror(r));
    if (!c->done && end_stream && !c->delivered_unary) half_close(c);
    else if (end_stream) c->client_half_closed = true;
    pw_grpc_call_unref(c);
    return 0;
}

static void on_stream_close(void *ud, uint32_t sid, uint32_t code)
{
    pw_grpc_conn *g = ud;
    pw_grpc_call *c = pw_h2_stream_get_user(g->h2, sid);
    if (!c) {
        pw_grpc_plain_drop(g, sid);
        return;
    }
    if (!c->done) pw_grpc_call_abort(c, g->destroying ? PW_GRPC_UNAVAILABLE : PW_GRPC_CANCELLED);
    pw_grpc_call_detach(c);
}

static void on_stream_writable(void *ud, uint32_t sid)
{
    pw_grpc_conn *g = ud;
    pw_grpc_call *c = pw_h2_stream_get_user(g->h2, sid);
    if (c) pw_grpc_call_pump(c);
    else pw_grpc_plain_pump(g, sid);
}

/* ---- connections ---- */

pw_grpc_conn *pw_grpc_conn_create(const pw_grpc_server *s, uint64_t now_ns)
{
    pw_grpc_conn *g = rt_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->srv = s;
    rt_cache_init(&g->call_cache, sizeof(pw_grpc_call), PW_GRPC_CALL_CACHE_MAX);
    pw_h2_config cfg;
    pw_h2_config_default(&cfg);
    cfg.max_concurrent_streams = s->cfg.max_concurrent_streams;
    cfg.initial_window_size = s->cfg.initial_window_bytes;
    cfg.conn_window_size = s->cfg.conn_window_bytes;
    cfg.max_header_list_size = s->cfg.max_header_list_bytes;
    cfg.output_refs = s->cfg.output_refs;
    static const pw_h2_callbacks cb = {
        .on_headers = on_headers,
        .on_data = on_data,
        .on_stream_close = on_stream_close,
        .on_stream_writable = on_stream_writable,
    };
    g->h2 = pw_h2_session_create(PW_H2_ROLE_SERVER, &cfg, &cb, g);
    if (!g->h2) {
        rt_free(g);
        return NULL;
    }
    (void)now_ns;
    return g;
}

void pw_grpc_conn_destroy(pw_grpc_conn *g)
{
    if (!g) return;
    g->destroying = true;
    pw_h2_session_destroy(g->h2); /* on_stream_close for every open stream */
    pw_grpc_plain_drop_all(g);
    while (g->calls) {
        pw_grpc_call *c = g->calls;
        if (!c->done) pw_grpc_call_abort(c, PW_GRPC_UNAVAILABLE);
        pw_grpc_call_detach(c);
    }
    pw_grpc_conn_forget_out(g); /* calls still held go to the allocator at their last unref */
    rt_cache_deinit(&g->call_cache);
    rt_free(g);
}

ssize_t pw_grpc_conn_recv(pw_grpc_conn *g, const uint8_t *in, size_t len, uint64_t now_ns)
{
    g->now_ns = now_ns;
    g->in_recv++;
    ssize_t r = pw_h2_session_recv(g->h2, in, len, now_ns);
    g->in_recv--;
    pw_grpc_conn_idle_trim(g);
    return r;
}

size_t pw_grpc_conn_output(pw_grpc_conn *g, const uint8_t **p)
{
    size_t n = 0;
    pw_h2_session_output(g->h2, p, &n);
    return n;
}

void pw_grpc_conn_output_consume(pw_grpc_conn *g, size_t n)
{
    pw_h2_session_output_consume(g->h2, n);
}

size_t pw_grpc_conn_output_take(pw_grpc_conn *g, pw_h2_outv *dst)
{
    return pw_h2_session_output_take(g->h2, dst);
}

void pw_grpc_conn_data_stats(const pw_grpc_conn *g, uint64_t *ref_bytes, uint64_t *copied_bytes)
{
    pw_h2_stats st;
    pw_h2_session_stats(g->h2, &st);
    *ref_bytes = st.data_ref_bytes;
    *copied_bytes = st.data_copied_bytes;
}
bool pw_grpc_conn_want_close(const pw_grpc_conn *g) { return pw_h2_session_want_close(g->h2); }

uint64_t pw_grpc_conn_next_deadline(const pw_grpc_conn *g)
{
    uint64_t dl = UINT64_MAX;
    for (pw_grpc_call *c = g->calls; c; c = c->next)
        if (!c->done && c->deadline_ns < dl) dl = c->deadline_ns;
    return dl;
}

void pw_grpc_conn_expire(pw_grpc_conn *g, uint64_t now_ns)
{
    g->now_ns = now_ns;
    g->in_recv++;
    pw_grpc_call *c = g->calls;
    while (c) {
        pw_grpc_call *next = c->next;
        if (!c->done && c->deadline_ns <= now_ns) {
            pw_grpc_call_ref(c);
            /* The handler did not finish in time: answer for it, then tell it (once). */
            bool notify = !c->cancel_notified && c->m->on_cancel;
            pw_grpc_call_finish(c, PW_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
            if (notify) c->m->on_cancel(c, PW_GRPC_DEADLINE_EXCEEDED);
            next = c->next;
            pw_grpc_call_unref(c);
        }
        c = next;
    }
    g->in_recv--;
    pw_grpc_conn_idle_trim(g);
}

void pw_grpc_conn_shutdown(pw_grpc_conn *g) { pw_h2_submit_goaway(g->h2, 0, NULL, 0); }
size_t pw_grpc_conn_active_calls(const pw_grpc_conn *g) { return g->nactive; }

size_t pw_grpc_conn_reset_finished(pw_grpc_conn *g)
{
    /* RFC 9113 §8.1: a server that sent a complete response may ask the client to stop
     * sending its request with RST_STREAM(NO_ERROR). Only once the trailers are out: a reset
     * drops the stream's pending output. A reset made outside the session's callbacks closes
     * the stream (and frees its call) before it returns, so each round walks the list afresh
     * and resets the next stream id up: O(n^2) over at most max_concurrent_streams calls, once
     * per drain. */
    pw_h2_stats st;
    pw_h2_session_stats(g->h2, &st);
    if (st.pending_bytes + st.output_bytes > 0) return 0;
    size_t n = 0;
    uint32_t after = 0;
    for (;;) {
        uint32_t sid = 0;
        for (pw_grpc_call *c = g->calls; c; c = c->next) {
            if (!c->finished || c->trailers_pending || c->client_half_closed || buf_size(&c->outq))
                continue;
            if (c->stream_id > after && (sid == 0 || c->stream_id < sid)) sid = c->stream_id;
        }
        if (sid == 0) return n;
        if (pw_h2_submit_rst(g->h2, sid, PW_H2_NO_ERROR) == 0) n++;
        after = sid;
    }
}

bool pw_grpc_conn_idle(const pw_grpc_conn *g) { return pw_h2_session_open_streams(g->h2) == 0; }

size_t pw_grpc_conn_pending_bytes(const pw_grpc_conn *g)
{
    size_t n = pw_h2_session_queued_bytes(g->h2);
    for (const pw_grpc_call *c = g->calls; c; c = c->next) n += buf_size(&c->outq);
    return n;
}

bool pw_grpc_conn_in_header_block(const pw_grpc_conn *g)
{
    return pw_h2_session_in_header_block(g->h2);
}
void pw_grpc_conn_set_user(pw_grpc_conn *g, void *ud) { g->user = ud; }
void pw_grpc_conn_set_notify(pw_grpc_conn *g, void (*fn)(void *user)) { g->notify = fn; }
void pw_grpc_conn_set_plain(pw_grpc_conn *g, pw_grpc_plain_fn fn) { g->plain = fn; }
void pw_grpc_conn_set_on_done(pw_grpc_conn *g, pw_grpc_done_fn fn) { g->on_done = fn; }
