/* proto_wire/pw_grpc_call: the call API handlers use — metadata, sending messages, finishing
 * with a status — and the plumbing that moves a call's queued output into its HTTP/2 stream. */
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
    memset(c, 0, sizeof *c);
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
    return c;
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

/* The most one response message may hold: the server's limit (a local call keeps its copy). */
static size_t send_max(const pw_grpc_call *c)
{
    return c->local_fn ? c->local_send_max : c->conn->srv->cfg.max_send_message_bytes;
}

/* A call that can still send: on a connection, or local. */
static bool attached(const pw_grpc_call *c) { return c->conn || c->local_fn; }

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
 * connection's cache while that connection has calls open (as pw_grpc_call_detach does when the
 * connection held the last reference), else to the allocator. */
static void call_free_home(pw_grpc_call *c)
{
    pw_grpc_conn *g = c->home;
    if (c->prev) c->prev->next = c->next;
    else g->out = c->next;
    if (c->next) c->next->prev = c->prev;
    call_release(c);
    if (g->ncalls == 0) rt_free(c);
    else rt_cache_put(&g->call_cache, c);
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
    if (g->ncalls == 0) rt_cache_trim(&g->call_cache); /* an idle connection keeps none */
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
    if (g->ncalls == 0) rt_free(c);
    else rt_cache_put(&g->call_cache, c);
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

static bool compressing(const pw_grpc_call *c) { return c->compress && c->accept_gzip; }

static int send_headers(pw_grpc_call *c)
{
    if (c->headers_sent) return 0;
    pw_h2_header h[HDRS_MAX];
    size_t k = 0;
    h[k++] = (pw_h2_header)PW_H2_HDR(":status", "200");
    h[k++] = (pw_h2_header)PW_H2_HDR("content-type", "application/grpc");
    h[k++] = (pw_h2_header)PW_H2_HDR("grpc-accept-encoding", "identity,gzip");
    if (compressing(c)) h[k++] = (pw_h2_header)PW_H2_HDR("grpc-encoding", "gzip");
    k = put_md(h, k, c->init_md, c->ninit_md);
    int r = pw_h2_submit_headers(c->conn->h2, c->stream_id, h, k, false);
    if (r == 0) c->headers_sent = true;
    return r;
}

static int send_trailers(pw_grpc_call *c)
{
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
static void reset_on_error(pw_grpc_call *c, int err)
{
    uint32_t code = err == -ENOMEM ? PW_H2_ENHANCE_YOUR_CALM : pw_h2_err_code(err);
    if (c->conn) (void)pw_h2_submit_rst(c->conn->h2, c->stream_id, code);
}

static void end_stream(pw_grpc_call *c)
{
    int r = send_trailers(c);
    if (r < 0) reset_on_error(c, r);
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
            if (r < 0 && r != -ENOBUFS) reset_on_error(c, (int)r); /* -ENOBUFS: writable later */
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

/* ---- sending ---- */

static int check_can_send(pw_grpc_call *c)
{
    if (c->done || c->finished || !attached(c)) return -ECANCELED;
    if ((c->m->kind == PW_GRPC_UNARY || c->m->kind == PW_GRPC_CLIENT_STREAMING) && c->nresp > 0)
        return -EPROTO;
    if (buf_size(&c->outq) >= PW_GRPC_CALL_OUTQ_HIGH_BYTES) {
        c->want_writable = true;
        return -ENOBUFS;
    }
    return 0;
}

/* Reserves the prefix of the next message: 0, check_can_send's errors, -ENOBUFS (outq's cap)
 * or -ENOMEM. */
static int send_begin(pw_grpc_call *c)
{
    int r = check_can_send(c);
    if (r) return r;
    uint8_t *p;
    r = buf_reserve(&c->outq, PW_GRPC_MSG_PREFIX_BYTES, &p);
    if (r < 0) return r;
    buf_commit(&c->outq, PW_GRPC_MSG_PREFIX_BYTES);
    c->send_mark = c->outq.wr - PW_GRPC_MSG_PREFIX_BYTES - c->outq.rd;
    c->in_send = true;
    return 0;
}

buf *pw_grpc_call_send_begin(pw_grpc_call *c) { return send_begin(c) == 0 ? &c->outq : NULL; }

static void put_prefix(uint8_t *p, bool compressed, size_t len)
{
    p[0] = compressed ? 1 : 0;
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
}

int pw_grpc_call_send_commit(pw_grpc_call *c, unsigned flags)
{
    if (!c->in_send) return -EINVAL;
    c->in_send = false;
    size_t start = c->outq.rd + c->send_mark;
    size_t len = c->outq.wr - start - PW_GRPC_MSG_PREFIX_BYTES;
    if (c->done || !attached(c)) {
        c->outq.wr = start;
        return -ECANCELED;
    }
    if (len > send_max(c)) {
        c->outq.wr = start;
        return -EMSGSIZE;
    }
    if (c->local_fn) { /* kept in outq for pw_grpc_call_finish */
        put_prefix(c->outq.data + start, false, len);
        c->nresp++;
        return 0;
    }
    bool gz = compressing(c) && !(flags & PW_GRPC_SEND_NO_COMPRESS);
    if (gz) {
        buf z;
        buf_init(&z, c->outq.cap);
        int r = pw_gzip_compress(pw_grpc_gzip(), c->outq.data + start + PW_GRPC_MSG_PREFIX_BYTES,
                                 len, &z);
        if (r == 0) {
            c->outq.wr = start + PW_GRPC_MSG_PREFIX_BYTES;
            r = buf_append(&c->outq, buf_begin(&z), buf_size(&z));
            len = buf_size(&z);
        }
        buf_deinit(&z);
        if (r != 0) {
            c->outq.wr = start;
            return r;
        }
    }
    /* Submitting the headers can fail the whole session (its output could not grow): that
     * closes every stream and detaches this call. Keep the connection to notify it, so its
     * owner flushes the GOAWAY and closes, instead of leaving the peer waiting. */
    pw_grpc_conn *g = c->conn;
    int r = send_headers(c);
    if (r == 0 && !c->conn) r = -ECANCELED;
    if (r < 0) { /* nothing of this message is queued: the caller may finish with a status */
        c->outq.wr = start;
        pw_grpc_conn_touch(g);
        return r;
    }
    put_prefix(c->outq.data + start, gz, len);
    c->nresp++;
    pw_grpc_call_pump(c);
    return 0;
}

void pw_grpc_call_send_abort(pw_grpc_call *c)
{
    if (!c->in_send) return;
    c->in_send = false;
    c->outq.wr = c->outq.rd + c->send_mark;
}

int pw_grpc_call_send(pw_grpc_call *c, const uint8_t *msg, size_t len, unsigned flags)
{
    int r = check_can_send(c);
    if (r) return r;
    if (len > send_max(c)) return -EMSGSIZE;
    r = send_begin(c);
    if (r < 0) return r;
    r = buf_append(&c->outq, msg, len);
    if (r < 0) {
        c->in_send = false;
        c->outq.wr = c->outq.rd + c->send_mark;
        return r;
    }
    return pw_grpc_call_send_commit(c, flags);
}

/* Hands `len` bytes of `b` (already gRPC-framed messages, `nmsgs` of them) to the stream by
 * reference, behind `prefix` (copied: a message prefix, or nothing), in one frame with it.
 * Bytes still in outq (the stream's pending was full) go first, their storage handed on as a
 * blob of its own (no copy); only inside a send_begin/commit is the blob copied into outq
 * instead, to keep the order, and the blob counts that copy. */
static int send_blob(pw_grpc_call *c, rt_blob *b, const uint8_t *prefix, size_t prefix_len,
                     uint32_t nmsgs)
{
    /* Submitting the headers can fail the whole session (see pw_grpc_call_send_commit): the
     * call is detached then; keep the connection to notify it. */
    pw_grpc_conn *g = c->conn;
    int r = send_headers(c);
    if (r == 0 && !c->conn) r = -ECANCELED;
    if (r < 0) {
        pw_grpc_conn_touch(g);
        return r;
    }
    if (buf_size(&c->outq) > 0 && !c->in_send) {
        rt_blob *q = rt_blob_from_buf(&c->outq, NULL, NULL);
        r = q ? pw_h2_submit_data_ref(c->conn->h2, c->stream_id, NULL, 0, q, q->data, q->len)
              : -ENOMEM;
        rt_blob_unref(q);
        if (r < 0) {
            reset_on_error(c, r); /* outq's bytes are gone with the blob */
            return r;
        }
        if (!c->conn) { /* the submit's pump failed the session: detached */
            pw_grpc_conn_touch(g);
            return -ECANCELED;
        }
    }
    if (c->in_send) { /* behind a message being written: into outq after it, a copy */
        size_t mark = buf_size(&c->outq);
        r = buf_append(&c->outq, prefix, prefix_len);
        if (r == 0) r = buf_append(&c->outq, b->data, b->len);
        if (r < 0) {
            buf_truncate(&c->outq, mark);
            return r;
        }
        b->copied_bytes += b->len;
    } else {
        r = pw_h2_submit_data_ref(c->conn->h2, c->stream_id, prefix, prefix_len, b, b->data,
                                  b->len);
        if (r < 0) return r; /* -ENOMEM: nothing of it was queued */
    }
    c->nresp += (int)nmsgs;
    if (!c->conn) { /* queued, then the pump failed the session: its GOAWAY must go out */
        pw_grpc_conn_touch(g);
        return -ECANCELED;
    }
    pw_grpc_call_pump(c);
    return 0;
}

static int send_owned_check(pw_grpc_call *c, size_t len)
{
    int r = check_can_send(c);
    if (r) return r;
    if (len > send_max(c)) return -EMSGSIZE;
    return 0;
}

int pw_grpc_call_send_buf(pw_grpc_call *c, buf *msg, unsigned flags)
{
    int r = send_owned_check(c, buf_size(msg));
    if (r) return r;
    if ((compressing(c) && !(flags & PW_GRPC_SEND_NO_COMPRESS)) || buf_size(msg) == 0 ||
        c->local_fn) {
        r = pw_grpc_call_send(c, buf_begin(msg), buf_size(msg), flags);
        if (r == 0) buf_consume(msg, buf_size(msg));
        return r;
    }
    uint8_t prefix[PW_GRPC_MSG_PREFIX_BYTES];
    put_prefix(prefix, false, buf_size(msg));
    rt_blob *b = rt_blob_from_buf(msg, NULL, NULL);
    if (!b) return -ENOMEM;
    r = send_blob(c, b, prefix, sizeof prefix, 1);
    rt_blob_unref(b);
    return r;
}

int pw_grpc_call_send_framed(pw_grpc_call *c, rt_blob *b, uint32_t nmsgs)
{
    int r = check_can_send(c);
    if (r) return r;
    if (compressing(c) || c->local_fn) return -EOPNOTSUPP;
    /* Each message within the limit, as pw_grpc_call_send checks one: walk the prefixes. */
    for (size_t off = 0; off < b->len;) {
        if (b->len - off < PW_GRPC_MSG_PREFIX_BYTES) return -EINVAL;
        const uint8_t *h = b->data + off;
        size_t n = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
        if (n > c->conn->srv->cfg.max_send_message_bytes) return -EMSGSIZE;
        if (n > b->len - off - PW_GRPC_MSG_PREFIX_BYTES) return -EINVAL;
        off += PW_GRPC_MSG_PREFIX_BYTES + n;
    }
    return send_blob(c, b, NULL, 0, nmsgs);
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
