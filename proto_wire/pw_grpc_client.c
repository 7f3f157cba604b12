/* proto_wire/pw_grpc_client: gRPC client calls over a pw_h2 client session - the API side:
 * starting, sending, cancelling, ticking deadlines. The inbound side (responses, trailers,
 * stream closes) is pw_grpc_client_in.c; what both share, pw_grpc_client_int.h. See the header. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/rt_alloc.h"
#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_client_int.h"
#include "proto_wire/pw_grpc_cmeta_int.h"
#include "proto_wire/pw_grpc_msg.h"
#include "proto_wire/pw_gzip.h"
#include "proto_wire/pw_h2.h"

/* ---- list and close ---- */

/* `c` leaves the pending suffix (opened or removed). */
static void unqueue(pw_grpc_client *cl, pw_grpc_ccall *c)
{
    if (!c->queued) return;
    c->queued = false;
    cl->npending--;
    if (cl->first_pending == c) cl->first_pending = c->next;
}

static void list_remove(pw_grpc_client *cl, pw_grpc_ccall *c)
{
    unqueue(cl, c);
    if (c->prev) c->prev->next = c->next;
    else cl->head = c->next;
    if (c->next) c->next->prev = c->prev;
    else cl->tail = c->prev;
    c->prev = c->next = NULL;
    cl->ncalls--;
}

static void call_free(pw_grpc_ccall *c)
{
    buf_deinit(&c->out);
    pw_grpc_deframer_deinit(&c->df);
    rt_free(c->path);
    rt_free(c->md);
    rt_free(c);
}

/* Delivers on_close with `st` and frees the call. */
void pw_cc_finish(pw_grpc_ccall *c, pw_grpc_status code, const char *msg, size_t msg_len,
                  bool refused)
{
    pw_grpc_client *cl = c->cl;
    assert(c->state != PW_GRPC_CC_CLOSED);
    c->state = PW_GRPC_CC_CLOSED;
    list_remove(cl, c);
    pw_grpc_cstatus st = {code, msg ? msg : "", msg ? msg_len : 0, refused};
    if (c->cb.on_close) c->cb.on_close(c, c->ud, &st);
    if (c->flushing) return; /* closed from inside its own submit: call_flush frees it */
    call_free(c);
}

void pw_cc_force(pw_grpc_ccall *c, pw_grpc_status code, const char *msg)
{
    if (c->forced) return;
    c->forced = true;
    c->forced_code = code;
    c->forced_msg = msg;
}

static bool call_live(const pw_grpc_client *cl, const pw_grpc_ccall *c)
{
    for (const pw_grpc_ccall *p = cl->head; p; p = p->next)
        if (p == c) return true;
    return false;
}

/* Ends an open call with a local status: RST_STREAM(CANCEL), then on_close once the session
 * reports the stream closed (at once outside a session callback). */
void pw_cc_reset(pw_grpc_ccall *c, pw_grpc_status code, const char *msg)
{
    pw_grpc_client *cl = c->cl;
    uint32_t sid = c->stream_id;
    pw_cc_force(c, code, msg);
    (void)pw_h2_submit_rst(cl->h2, sid, PW_H2_CANCEL); /* -ENOENT: handled just below */
    if (cl->cb_depth == 0 && call_live(cl, c) && c->state != PW_GRPC_CC_CLOSED) {
        /* The session did not report the close (stream unknown to it): close it here and
         * detach it so no later event can reach the freed call. */
        (void)pw_h2_stream_set_user(cl->h2, sid, NULL); /* -ENOENT: nothing to detach */
        pw_cc_finish(c, c->forced_code, c->forced_msg, strlen(c->forced_msg), false);
    }
}

/* ---- sending ---- */

/* A submit failed for good (not -ENOBUFS, which on_stream_writable resumes): the request can
 * no longer be sent whole, so the call ends now (out of memory: RESOURCE_EXHAUSTED) instead of
 * waiting for an answer that cannot come. */
static void call_send_failed(pw_grpc_ccall *c, ssize_t err)
{
    if (c->state != PW_GRPC_CC_OPEN) return;
    if (err == -ENOMEM) pw_cc_reset(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    else pw_cc_reset(c, PW_GRPC_UNAVAILABLE, "connection failed");
}

/* Hands queued bytes (and END_STREAM) to the session as far as its per-stream cap allows. */
static void call_flush_once(pw_grpc_ccall *c)
{
    pw_h2_session *s = c->cl->h2;
    while (buf_size(&c->out) > 0) {
        size_t have = buf_size(&c->out);
        ssize_t n = pw_h2_submit_data(s, c->stream_id, buf_begin(&c->out), have, c->send_end);
        if (n < 0 && n != -ENOBUFS) {
            call_send_failed(c, n);
            return;
        }
        if (n <= 0 || c->state != PW_GRPC_CC_OPEN)
            return; /* -ENOBUFS: on_stream_writable
                                                               resumes; otherwise closing */
        buf_consume(&c->out, (size_t)n);
        if ((size_t)n == have && c->send_end) {
            c->end_sent = true;
            return;
        }
    }
    if (!c->send_end) return;
    ssize_t n = pw_h2_submit_data(s, c->stream_id, NULL, 0, true);
    if (n == 0) c->end_sent = true;
    else if (n != -ENOBUFS) call_send_failed(c, n);
}

void pw_cc_flush(pw_grpc_ccall *c)
{
    if (c->state != PW_GRPC_CC_OPEN || c->end_sent) return;
    /* A submit made outside the session's callbacks may pump the stream's DATA out and run
     * on_stream_writable (so this function) from inside pw_h2_submit_data, before the bytes it
     * accepted were consumed from c->out: a nested flush would hand the same bytes over again
     * (a message of 65,518+ bytes was sent with its first 64 KiB twice). Never re-enter: the
     * outer flush goes round again instead. */
    if (c->flushing) {
        c->flush_again = true;
        return;
    }
    c->flushing = true;
    do {
        c->flush_again = false;
        call_flush_once(c);
    } while (c->flush_again && !c->end_sent && c->state == PW_GRPC_CC_OPEN);
    c->flushing = false;
    /* The stream closed inside a submit (our END_STREAM after the server's): on_close ran
     * there and left the freeing to us. */
    if (c->state == PW_GRPC_CC_CLOSED) call_free(c);
}

static int call_open(pw_grpc_ccall *c, uint64_t now_ns)
{
    pw_grpc_client *cl = c->cl;
    pw_h2_header h[CC_REQ_HEADERS_MAX];
    size_t k = 0;
    h[k++] = (pw_h2_header)PW_H2_HDR(":method", "POST");
    h[k++] = (pw_h2_header)PW_H2_HDR(":scheme", "http");
    h[k++] = (pw_h2_header){":path", 5, c->path, strlen(c->path), 0};
    h[k++] = (pw_h2_header){":authority", 10, cl->authority, strlen(cl->authority), 0};
    h[k++] = (pw_h2_header)PW_H2_HDR("content-type", "application/grpc");
    h[k++] = (pw_h2_header)PW_H2_HDR("te", "trailers");
    char tmo[PW_GRPC_TIMEOUT_STR_BYTES];
    if (c->deadline_ns) {
        uint64_t left = c->deadline_ns > now_ns ? c->deadline_ns - now_ns : 0;
        size_t tl = pw_grpc_timeout_format(pw_grpc_timeout_coarse(left), tmo);
        h[k++] = (pw_h2_header){"grpc-timeout", 12, tmo, tl, 0};
    }
    h[k++] = (pw_h2_header){"user-agent", 10, cl->user_agent, strlen(cl->user_agent), 0};
    h[k++] = (pw_h2_header)PW_H2_HDR("grpc-accept-encoding", "identity,gzip");
    /* Decided when the headers go out: messages queued before (a unary request sent right
     * after the start, while no stream slot was free) were left uncompressed. */
    c->req_gzip = cl->gzip_min && cl->peer_gzip && buf_size(&c->out) == 0;
    if (c->req_gzip) h[k++] = (pw_h2_header)PW_H2_HDR("grpc-encoding", "gzip");
    for (size_t i = 0; i < c->md_count; i++) h[k++] = c->md[i];
    assert(k <= CC_REQ_HEADERS_MAX);
    /* The stream gets its user only once the submit returned: a submit outside a callback
     * pumps the headers out at once, and if that fails (out of memory) the session fails and
     * closes the new stream inside the submit; with the user set, on_stream_close would end
     * and free the call under our feet (and before pw_grpc_ccall_start returned it). */
    int64_t id = pw_h2_submit_request(cl->h2, h, k, false, NULL);
    if (id < 0) return (int)id;
    if (pw_h2_stream_set_user(cl->h2, (uint32_t)id, c) < 0) return -ENOTCONN; /* failed */
    c->stream_id = (uint32_t)id;
    c->state = PW_GRPC_CC_OPEN;
    unqueue(cl, c);
    pw_cc_flush(c);
    return 0;
}

/* Opens pending calls while stream slots allow; fails them all once the connection drains. */
void pw_gc_start_pending(pw_grpc_client *cl)
{
    pw_grpc_ccall *c;
    while ((c = cl->first_pending) != NULL) {
        int rc = cl->goaway || cl->fail_why ? -ENOTCONN : call_open(c, cl->now_ns);
        if (rc == -EAGAIN) return; /* still no slot: keep start order */
        if (rc < 0) {
            static const char why[] = "connection closing before the call was sent";
            pw_cc_finish(c, PW_GRPC_UNAVAILABLE, why, sizeof why - 1, true);
        }
        /* opened or finished: it left the suffix (callbacks may have changed the list) */
    }
}

/* ---- client ---- */

pw_grpc_client *pw_grpc_client_create(const pw_grpc_client_opts *opts)
{
    const char *auth = opts && opts->authority ? opts->authority : "localhost";
    const char *ua = opts && opts->user_agent ? opts->user_agent : "ringq-c/1";
    if (strlen(auth) > PW_GRPC_CLIENT_AUTHORITY_MAX) return NULL;
    pw_grpc_client *cl = rt_calloc(1, sizeof *cl);
    if (!cl) return NULL;
    memcpy(cl->authority, auth, strlen(auth) + 1);
    snprintf(cl->user_agent, sizeof cl->user_agent, "%s", ua);
    cl->max_recv = opts && opts->max_recv_msg_bytes ? opts->max_recv_msg_bytes
                                                    : PW_GRPC_MAX_MSG_BYTES_DEFAULT;
    cl->gzip_min = opts ? opts->gzip_min_bytes : 0;
    pw_gzip_ctx_init(&cl->gz, -1);
    buf_init(&cl->zin, cl->max_recv < SIZE_MAX ? cl->max_recv + 1 : SIZE_MAX);
    buf_init(&cl->zout, PW_GRPC_CCALL_OUT_MAX_BYTES); /* larger: sent plain */
    pw_h2_callbacks cb = pw_gc_h2_callbacks;
    pw_h2_config cfg;
    pw_h2_config_default(&cfg);
    cfg.auto_consume = true;        /* memory is bounded by the deframer's message limit */
    cfg.max_concurrent_streams = 0; /* servers do not open streams to us (push is off) */
    cl->h2 = pw_h2_session_create(PW_H2_ROLE_CLIENT, &cfg, &cb, cl);
    if (!cl->h2) {
        rt_free(cl);
        return NULL;
    }
    return cl;
}

void pw_grpc_client_fail(pw_grpc_client *cl, const char *why)
{
    if (!cl->fail_why) cl->fail_why = why ? why : "connection failed";
    cl->in_api = true;
    pw_grpc_ccall *c;
    while ((c = cl->head) != NULL) {
        if (c->state == PW_GRPC_CC_PENDING) {
            pw_cc_finish(c, PW_GRPC_UNAVAILABLE, cl->fail_why, strlen(cl->fail_why), true);
            continue;
        }
        pw_cc_reset(c, PW_GRPC_UNAVAILABLE, cl->fail_why);
    }
    cl->in_api = false;
}

void pw_grpc_client_destroy(pw_grpc_client *cl)
{
    if (!cl) return;
    pw_grpc_client_fail(cl, cl->fail_why ? cl->fail_why : "connection closed");
    pw_h2_session_destroy(cl->h2);
    assert(cl->ncalls == 0);
    pw_gzip_ctx_deinit(&cl->gz);
    buf_deinit(&cl->zin);
    buf_deinit(&cl->zout);
    rt_free(cl);
}

ssize_t pw_grpc_client_recv(pw_grpc_client *cl, const uint8_t *in, size_t len, uint64_t now_ns)
{
    cl->now_ns = now_ns;
    cl->in_api = true;
    ssize_t rc = pw_h2_session_recv(cl->h2, in, len, now_ns);
    cl->in_api = false;
    pw_gc_start_pending(cl);
    return rc;
}

void pw_grpc_client_output(pw_grpc_client *cl, const uint8_t **p, size_t *n)
{
    pw_h2_session_output(cl->h2, p, n);
}

void pw_grpc_client_output_consume(pw_grpc_client *cl, size_t n)
{
    cl->in_api = true;
    pw_h2_session_output_consume(cl->h2, n);
    cl->in_api = false;
    pw_gc_start_pending(cl);
}

bool pw_grpc_client_want_write(const pw_grpc_client *cl)
{
    return pw_h2_session_want_write(cl->h2);
}

bool pw_grpc_client_want_close(const pw_grpc_client *cl)
{
    return pw_h2_session_want_close(cl->h2) || (cl->goaway && cl->ncalls == 0);
}

bool pw_grpc_client_draining(const pw_grpc_client *cl) { return cl->goaway || cl->fail_why; }

size_t pw_grpc_client_calls(const pw_grpc_client *cl) { return cl->ncalls; }

size_t pw_grpc_client_tick(pw_grpc_client *cl, uint64_t now_ns)
{
    size_t expired = 0;
    cl->now_ns = now_ns;
    cl->in_api = true;
    for (bool again = true; again;) {
        again = false;
        for (pw_grpc_ccall *c = cl->head; c; c = c->next) {
            if (!c->deadline_ns || c->deadline_ns > now_ns || c->forced) continue;
            static const char why[] = "deadline exceeded";
            expired++;
            again = true;
            if (c->state == PW_GRPC_CC_PENDING) {
                pw_cc_finish(c, PW_GRPC_DEADLINE_EXCEEDED, why, sizeof why - 1, false);
            } else {
                pw_cc_reset(c, PW_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
            }
            break; /* the list may have changed: scan again */
        }
    }
    cl->in_api = false;
    pw_gc_start_pending(cl);
    return expired;
}

uint64_t pw_grpc_client_next_deadline(const pw_grpc_client *cl)
{
    uint64_t best = 0;
    for (const pw_grpc_ccall *c = cl->head; c; c = c->next)
        if (c->deadline_ns && !c->forced && (!best || c->deadline_ns < best)) best = c->deadline_ns;
    return best;
}

/* ---- calls ---- */

pw_grpc_ccall *pw_grpc_ccall_start(pw_grpc_client *cl, const char *path, uint64_t deadline_ns,
                                   uint64_t now_ns, const pw_grpc_ccall_cbs *cb, void *ud, int *err)
{
    return pw_grpc_ccall_start_opts(cl, path, deadline_ns, now_ns, NULL, cb, ud, err);
}

pw_grpc_ccall *pw_grpc_ccall_start_opts(pw_grpc_client *cl, const char *path, uint64_t deadline_ns,
                                        uint64_t now_ns, const pw_grpc_ccall_opts *opts,
                                        const pw_grpc_ccall_cbs *cb, void *ud, int *err)
{
    int dummy;
    if (!err) err = &dummy;
    if (!path || path[0] != '/') {
        *err = -EINVAL;
        return NULL;
    }
    if (cl->goaway || cl->fail_why || pw_h2_session_want_close(cl->h2)) {
        *err = -ENOTCONN;
        return NULL;
    }
    pw_h2_header *md = NULL;
    size_t md_count = opts ? opts->md_count : 0;
    int mrc = pw_grpc_cmeta_copy(opts ? opts->md : NULL, md_count, &md);
    if (mrc < 0) {
        *err = mrc;
        return NULL;
    }
    pw_grpc_ccall *c = rt_calloc(1, sizeof *c);
    if (!c || !(c->path = rt_strdup(path))) {
        rt_free(c);
        rt_free(md);
        *err = -ENOMEM;
        return NULL;
    }
    c->md = md;
    c->md_count = md_count;
    c->cl = cl;
    c->state = PW_GRPC_CC_PENDING;
    c->deadline_ns = deadline_ns;
    c->cb = *cb;
    c->ud = ud;
    buf_init(&c->out, PW_GRPC_CCALL_OUT_MAX_BYTES);
    pw_grpc_deframer_init(&c->df, cl->max_recv);
    c->prev = cl->tail;
    if (cl->tail) cl->tail->next = c;
    else cl->head = c;
    cl->tail = c;
    cl->ncalls++;
    cl->now_ns = now_ns;
    /* Keep start order: open now only if no earlier call is still waiting for a slot. */
    if (cl->npending == 0) {
        int rc = call_open(c, now_ns);
        if (rc < 0 && rc != -EAGAIN) {
            list_remove(cl, c);
            call_free(c);
            *err = rc == -ENOTCONN ? -ENOTCONN : rc;
            return NULL;
        }
    }
    if (c->state == PW_GRPC_CC_PENDING) {
        c->queued = true;
        cl->npending++;
        if (!cl->first_pending) cl->first_pending = c;
    }
    *err = 0;
    return c;
}

int pw_grpc_ccall_send(pw_grpc_ccall *c, const uint8_t *msg, size_t len, bool end)
{
    if (c->state == PW_GRPC_CC_CLOSED || c->send_end || c->forced) return -EPIPE;
    pw_grpc_client *cl = c->cl;
    int rc = 1;
    if (c->req_gzip && len >= cl->gzip_min) {
        buf_consume(&cl->zout, buf_size(&cl->zout));
        if (pw_gzip_compress(&cl->gz, msg, len, &cl->zout) == 0 && buf_size(&cl->zout) < len)
            rc = pw_grpc_msg_encode(&c->out, buf_begin(&cl->zout), buf_size(&cl->zout), true);
        buf_consume(&cl->zout, buf_size(&cl->zout));
        buf_shrink(&cl->zout, 64 * 1024);
    }
    if (rc == 1) rc = pw_grpc_msg_encode(&c->out, msg, len, false); /* small, or no gain */
    if (rc < 0) return rc;
    c->send_end = end;
    pw_cc_flush(c);
    return 0;
}

int pw_grpc_ccall_close_send(pw_grpc_ccall *c)
{
    if (c->state == PW_GRPC_CC_CLOSED || c->send_end) return -EPIPE;
    c->send_end = true;
    pw_cc_flush(c);
    return 0;
}

void pw_grpc_ccall_cancel(pw_grpc_ccall *c)
{
    if (c->state == PW_GRPC_CC_CLOSED || c->forced) return;
    static const char why[] = "cancelled by the application";
    if (c->state == PW_GRPC_CC_PENDING) {
        pw_cc_finish(c, PW_GRPC_CANCELLED, why, sizeof why - 1, false);
        return;
    }
    pw_cc_reset(c, PW_GRPC_CANCELLED, "cancelled by the application");
}

pw_grpc_ccall_state pw_grpc_ccall_get_state(const pw_grpc_ccall *c) { return c->state; }

uint32_t pw_grpc_ccall_stream_id(const pw_grpc_ccall *c) { return c->stream_id; }
