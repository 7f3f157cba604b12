/* proto_wire/pw_grpc_client_in: a gRPC client's inbound side - the HTTP/2 session's callbacks:
 * response headers and trailers into a status, DATA through the deframer (gunzipped) to
 * on_message, stream resets and closes into on_close (pw_grpc_client_int.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto_wire/pw_grpc_client_int.h"

static bool hname_is(const pw_h2_header *h, const char *s)
{
    size_t n = strlen(s);
    return h->name_len == n && memcmp(h->name, s, n) == 0;
}

/* gRPC's HTTP-to-gRPC status mapping for a non-200 response (doc/http-grpc-status-mapping.md). */
static pw_grpc_status http_status_map(unsigned st)
{
    switch (st) {
    case 400: return PW_GRPC_INTERNAL;
    case 401: return PW_GRPC_UNAUTHENTICATED;
    case 403: return PW_GRPC_PERMISSION_DENIED;
    case 404: return PW_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504: return PW_GRPC_UNAVAILABLE;
    default: return PW_GRPC_UNKNOWN;
    }
}

static void take_status(pw_grpc_ccall *c, const pw_h2_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (hname_is(&h[i], "grpc-status")) {
            pw_grpc_status st;
            if (pw_grpc_status_parse(h[i].value, h[i].value_len, &st) == 0) {
                c->status = st;
                c->got_status = true;
            }
        } else if (hname_is(&h[i], "grpc-message")) {
            size_t len = h[i].value_len < sizeof c->message ? h[i].value_len : sizeof c->message;
            memcpy(c->message, h[i].value, len);
            c->message_len = pw_grpc_pct_decode((uint8_t *)c->message, (uint8_t *)c->message, len);
        }
    }
    if (!c->got_status) pw_cc_force(c, PW_GRPC_INTERNAL, "response ended without grpc-status");
}

/* The server's status ends the call (PROTOCOL-HTTP2.md: the response's trailers are final): a
 * call still sending (a stream whose requests the server will never read, e.g. refused at its
 * start) resets its side so the stream closes and on_close reports the status now, instead of
 * the call waiting half-closed for an END_STREAM the application may never send. */
static void end_our_side(pw_grpc_client *cl, pw_grpc_ccall *c, uint32_t sid, unsigned flags)
{
    if (!(flags & PW_H2_HF_END_STREAM) || !c->got_status || c->forced || c->end_sent) return;
    (void)pw_h2_submit_rst(cl->h2, sid, PW_H2_NO_ERROR); /* -ENOENT: already closed */
}

static int headers_in(void *ud, uint32_t sid, const pw_h2_header *h, size_t n, unsigned flags)
{
    pw_grpc_client *cl = ud;
    pw_grpc_ccall *c = pw_h2_stream_get_user(cl->h2, sid);
    if (!c || (flags & PW_H2_HF_INFORMATIONAL)) return 0;
    if (!c->got_headers && !(flags & PW_H2_HF_TRAILERS)) {
        c->got_headers = true;
        unsigned status = 0;
        bool grpc_ct = false;
        for (size_t i = 0; i < n; i++) {
            if (hname_is(&h[i], ":status")) {
                for (size_t k = 0; k < h[i].value_len && k < 3; k++)
                    status = status * 10 + (unsigned)(h[i].value[k] - '0');
            } else if (hname_is(&h[i], "content-type")) {
                grpc_ct = h[i].value_len >= 16 && memcmp(h[i].value, "application/grpc", 16) == 0;
            } else if (hname_is(&h[i], "grpc-encoding")) {
                /* We accept identity and gzip (grpc-accept-encoding); anything else is the
                 * server's error. */
                if (h[i].value_len == 4 && strncasecmp(h[i].value, "gzip", 4) == 0)
                    pw_grpc_deframer_set_compression(&c->df, true);
                else if (!(h[i].value_len == 8 && memcmp(h[i].value, "identity", 8) == 0))
                    pw_cc_force(c, PW_GRPC_INTERNAL,
                                "response in a grpc-encoding we did not "
                                "offer");
            } else if (hname_is(&h[i], "grpc-accept-encoding")) {
                if (pw_grpc_list_has(h[i].value, h[i].value_len, "gzip")) cl->peer_gzip = true;
            }
        }
        if (status != 200) {
            pw_cc_force(c, http_status_map(status), "HTTP status is not 200");
        } else if (!grpc_ct) {
            pw_cc_force(c, PW_GRPC_UNKNOWN, "response content-type is not application/grpc");
        }
        if (flags & PW_H2_HF_END_STREAM) take_status(c, h, n); /* trailers-only */
        if (c->forced) {
            c->forced = false;
            pw_cc_reset(c, c->forced_code, c->forced_msg);
            return 0;
        }
        end_our_side(cl, c, sid, flags);
        return 0;
    }
    take_status(c, h, n);
    end_our_side(cl, c, sid, flags);
    return 0;
}

static int data_in(void *ud, uint32_t sid, const uint8_t *p, size_t n, bool end)
{
    pw_grpc_client *cl = ud;
    pw_grpc_ccall *c = pw_h2_stream_get_user(cl->h2, sid);
    if (!c || c->forced) return 0;
    pw_grpc_msg m;
    int rc;
    while ((rc = pw_grpc_deframe(&c->df, &p, &n, &m)) == 1) {
        if (m.compressed) {
            buf_consume(&cl->zin, buf_size(&cl->zin));
            buf_shrink(&cl->zin, 64 * 1024);
            int zr = pw_gzip_decompress(&cl->gz, m.ptr, m.len, cl->max_recv, &cl->zin);
            if (zr < 0) {
                if (zr == PW_GZIP_ERR_TOO_LARGE)
                    pw_cc_reset(c, PW_GRPC_RESOURCE_EXHAUSTED,
                                "decompressed response message "
                                "above the limit");
                else if (zr == PW_GZIP_ERR_CORRUPT)
                    pw_cc_reset(c, PW_GRPC_INTERNAL, "corrupt gzip response message");
                else pw_cc_reset(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory decompressing");
                return 0;
            }
            m.ptr = buf_begin(&cl->zin);
            m.len = buf_size(&cl->zin);
        }
        if (c->cb.on_message && c->cb.on_message(c, c->ud, m.ptr, m.len) < 0) {
            pw_cc_reset(c, PW_GRPC_CANCELLED, "cancelled by the application");
            return 0;
        }
        if (c->forced) return 0; /* cancelled from the callback */
    }
    if (rc == 0 && end) rc = pw_grpc_deframer_finish(&c->df);
    if (rc < 0) {
        pw_cc_reset(c, pw_grpc_deframe_err_status(rc), pw_grpc_deframe_strerror(rc));
    }
    return 0;
}

/* RFC 9113 error code of a reset stream -> gRPC status (PROTOCOL-HTTP2.md "Errors"). */
static pw_grpc_status rst_status(uint32_t code)
{
    switch (code) {
    case PW_H2_REFUSED_STREAM: return PW_GRPC_UNAVAILABLE;
    case PW_H2_CANCEL: return PW_GRPC_CANCELLED;
    case PW_H2_ENHANCE_YOUR_CALM: return PW_GRPC_RESOURCE_EXHAUSTED;
    case PW_H2_INADEQUATE_SECURITY: return PW_GRPC_PERMISSION_DENIED;
    default: return PW_GRPC_INTERNAL;
    }
}

static void stream_closed(void *ud, uint32_t sid, uint32_t code)
{
    pw_grpc_client *cl = ud;
    pw_grpc_ccall *c = pw_h2_stream_get_user(cl->h2, sid);
    if (!c || c->state == PW_GRPC_CC_CLOSED) return;
    if (c->forced) {
        const char *m = c->forced_msg ? c->forced_msg : "";
        pw_cc_finish(c, c->forced_code, m, strlen(m), false);
    } else if (c->got_status) {
        pw_cc_finish(c, c->status, c->message, c->message_len, false);
    } else if (cl->fail_why) {
        pw_cc_finish(c, PW_GRPC_UNAVAILABLE, cl->fail_why, strlen(cl->fail_why), false);
    } else if (code == PW_H2_REFUSED_STREAM) {
        static const char why[] = "refused by the server (not processed)";
        pw_cc_finish(c, PW_GRPC_UNAVAILABLE, why, sizeof why - 1, true);
    } else {
        char why[64];
        int wl = snprintf(why, sizeof why, "stream reset with HTTP/2 error %u", code);
        pw_cc_finish(c, code == PW_H2_NO_ERROR ? PW_GRPC_INTERNAL : rst_status(code), why,
                     (size_t)wl, false);
    }
    if (!cl->in_api) pw_gc_start_pending(cl);
}

static void on_stream_writable(void *ud, uint32_t sid)
{
    pw_grpc_client *cl = ud;
    pw_grpc_ccall *c = pw_h2_stream_get_user(cl->h2, sid);
    if (c) pw_cc_flush(c);
}

static void on_goaway(void *ud, uint32_t last, uint32_t code, const uint8_t *d, size_t dn)
{
    pw_grpc_client *cl = ud;
    cl->goaway = true;
}

/* The session's callbacks, counting depth so call_reset knows a close will be deferred. */
static int on_headers(void *ud, uint32_t sid, const pw_h2_header *h, size_t n, unsigned flags)
{
    pw_grpc_client *cl = ud;
    cl->cb_depth++;
    int rc = headers_in(ud, sid, h, n, flags);
    cl->cb_depth--;
    return rc;
}

static int on_data(void *ud, uint32_t sid, const uint8_t *p, size_t n, bool end)
{
    pw_grpc_client *cl = ud;
    cl->cb_depth++;
    int rc = data_in(ud, sid, p, n, end);
    cl->cb_depth--;
    return rc;
}

static void on_stream_close(void *ud, uint32_t sid, uint32_t code)
{
    pw_grpc_client *cl = ud;
    cl->cb_depth++;
    stream_closed(ud, sid, code);
    cl->cb_depth--;
}

const pw_h2_callbacks pw_gc_h2_callbacks = {
    .on_headers = on_headers,
    .on_data = on_data,
    .on_stream_close = on_stream_close,
    .on_stream_writable = on_stream_writable,
    .on_goaway = on_goaway,
};
