/* proto_wire/pw_h2_flow: DATA receipt and receive windows (RFC 9113 §6.1, §6.9), WINDOW_UPDATE
 * and send windows (§6.9.1, §6.9.2), RST_STREAM (§6.4), PRIORITY (§6.3, ignored per §5.3.2). */
#include <errno.h>

#include "proto_wire/pw_h2_int.h"

static bool peer_sending(const pw_h2_stream *st)
{
    return st->state == PW_H2_SS_OPEN || st->state == PW_H2_SS_HALF_CLOSED_LOCAL;
}

int pw_h2i_credit(pw_h2_session *s, pw_h2_stream *st, size_t n)
{
    if (s->in_state == PW_H2_IN_FAILED || n == 0) return 0;
    /* Batched: a WINDOW_UPDATE once half of the window is consumed, so a peer streaming data
     * costs us one small frame per half window, not one per DATA frame. */
    s->conn_recv_unacked += (uint32_t)n;
    if (s->conn_recv_unacked >= s->cfg.conn_window_size / 2) {
        int rc = pw_h2i_out_window_update(s, 0, s->conn_recv_unacked);
        if (rc < 0) return rc;
        s->conn_recv_window += s->conn_recv_unacked;
        s->conn_recv_unacked = 0;
    }
    if (!st || !peer_sending(st)) return 0; /* the peer sends no more on it: no update */
    st->recv_unacked += (uint32_t)n;
    uint32_t half = s->local_initial_window / 2;
    if (st->recv_unacked >= (half ? half : 1)) {
        int rc = pw_h2i_out_window_update(s, st->id, st->recv_unacked);
        if (rc < 0) return rc;
        st->recv_window += st->recv_unacked;
        st->recv_unacked = 0;
    }
    return 0;
}

int pw_h2_consume(pw_h2_session *s, uint32_t stream_id, size_t n)
{
    pw_h2_stream *st = pw_h2i_stream_find(s, stream_id);
    if (!st) return 0; /* freed: its unconsumed bytes were returned then */
    if (n > st->recv_delivered) return -EINVAL;
    st->recv_delivered -= (uint32_t)n;
    pw_h2i_credit(s, st, n);
    return 0;
}

/* DATA the application will never see still counts against the connection window (§6.9):
 * return it at once. */
static int drop_data(pw_h2_session *s, size_t flen, int rc)
{
    if (rc < 0) return rc;
    return pw_h2i_credit(s, NULL, flen);
}

/* DATA on a stream that is not receiving (§5.1, §6.1). */
static int data_not_receiving(pw_h2_session *s, uint32_t sid, pw_h2_stream *st, size_t flen)
{
    if (st && st->state == PW_H2_SS_IDLE)
        return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "DATA on idle stream");
    if (st && st->state == PW_H2_SS_HALF_CLOSED_REMOTE) /* §5.1 half-closed (remote) */
        return drop_data(s, flen, pw_h2i_stream_error(s, sid, PW_H2_STREAM_CLOSED));
    if (!st && pw_h2i_stream_is_idle(s, sid)) /* §5.1 idle */
        return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "DATA on idle stream");
    switch (pw_h2i_closed_lookup(s, sid)) {
    case PW_H2_CLOSED_BY_US: /* §5.4.2: in flight after our RST_STREAM: ignore */
        return drop_data(s, flen, 0);
    case PW_H2_CLOSED_BY_PEER: /* §5.1 closed: the peer ended or reset it itself */
        return pw_h2i_fail(s, PW_H2_STREAM_CLOSED, "DATA on closed stream");
    default: /* §6.1: not open or half-closed (local): STREAM_CLOSED */
        return drop_data(s, flen, pw_h2i_stream_error(s, sid, PW_H2_STREAM_CLOSED));
    }
}

int pw_h2i_on_data(pw_h2_session *s, const pw_h2_frame *f)
{
    uint32_t sid = f->hd.stream_id;
    size_t flen = f->hd.length, dlen = f->u.data.len;
    bool es = (f->hd.flags & PW_H2_FLAG_END_STREAM) != 0;
    /* §6.9.1: the whole payload, padding included, counts; beyond the connection window is a
     * connection error. */
    if ((int64_t)flen > s->conn_recv_window)
        return pw_h2i_fail(s, PW_H2_FLOW_CONTROL_ERROR, "DATA exceeds connection window");
    s->conn_recv_window -= (int64_t)flen;
    pw_h2_stream *st = pw_h2i_stream_find(s, sid);
    if (!st || !peer_sending(st)) return data_not_receiving(s, sid, st, flen);
    if (s->role == PW_H2_ROLE_CLIENT && !(st->flags & PW_H2_SF_HDRS_IN)) /* §8.1 */
        return drop_data(s, flen, pw_h2i_stream_error(s, sid, PW_H2_PROTOCOL_ERROR));
    if ((int64_t)flen > st->recv_window) /* §6.9.1: stream window exceeded */
        return drop_data(s, flen, pw_h2i_stream_error(s, sid, PW_H2_FLOW_CONTROL_ERROR));
    st->recv_window -= (int64_t)flen;
    st->data_recvd += dlen;
    /* §8.1.1: DATA beyond content-length, or short of it at END_STREAM: malformed. */
    if (st->content_length >= 0 && !(st->flags & PW_H2_SF_HEAD_REQ) &&
        (st->data_recvd > (uint64_t)st->content_length ||
         (es && st->data_recvd != (uint64_t)st->content_length)))
        return drop_data(s, flen, pw_h2i_stream_error(s, sid, PW_H2_PROTOCOL_ERROR));
    if (dlen == 0 && !es && !pw_h2i_bucket_take(&s->empty_budget, s->now_ns)) /* CVE-2019-9518 */
        return pw_h2i_fail(s, PW_H2_ENHANCE_YOUR_CALM, "empty frame flood");
    int rc = pw_h2i_credit(s, st, flen - dlen); /* padding is ours to return */
    if (rc < 0) return rc;
    st->recv_delivered += (uint32_t)dlen;
    if (s->cb.on_data) {
        s->cb_depth++;
        rc = s->cb.on_data(s->ud, sid, f->u.data.data, dlen, es);
        s->cb_depth--;
        if (rc < 0) return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "application failed on_data");
    }
    if (s->cfg.auto_consume && dlen) {
        /* Whatever the callback did not already consume itself. */
        size_t c = dlen < st->recv_delivered ? dlen : st->recv_delivered;
        st->recv_delivered -= (uint32_t)c;
        if ((rc = pw_h2i_credit(s, st, c)) < 0) return rc;
    }
    if (es && peer_sending(st)) pw_h2i_stream_on_recv_es(s, st);
    return 0;
}

int pw_h2i_peer_initial_window(pw_h2_session *s, uint32_t value)
{
    /* §6.9.2: the change applies to every stream's send window, which may go negative;
     * exceeding 2^31-1 is a connection FLOW_CONTROL_ERROR. */
    int64_t delta = (int64_t)value - s->peer_initial_window;
    s->peer_initial_window = value;
    for (uint32_t i = 0; i < s->tab_cap; i++) {
        pw_h2_stream *st = s->tab[i];
        if (!st || st->state == PW_H2_SS_CLOSED) continue;
        st->send_window += delta;
        if (st->send_window > PW_H2_WINDOW_MAX_BYTES)
            return pw_h2i_fail(s, PW_H2_FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE overflow");
        if (st->send_window > 0 && pw_h2i_stream_has_output(st)) pw_h2i_sendq_add(s, st);
    }
    return 0;
}

static bool idle_stream(const pw_h2_session *s, uint32_t sid, const pw_h2_stream *st)
{
    return st ? st->state == PW_H2_SS_IDLE : pw_h2i_stream_is_idle(s, sid);
}

int pw_h2i_on_window_update(pw_h2_session *s, const pw_h2_frame *f)
{
    uint32_t sid = f->hd.stream_id, inc = f->u.window_update.increment;
    if (sid == 0) {
        if (s->conn_send_window + inc > PW_H2_WINDOW_MAX_BYTES) /* §6.9.1 */
            return pw_h2i_fail(s, PW_H2_FLOW_CONTROL_ERROR, "connection window overflow");
        s->conn_send_window += inc;
        return 0;
    }
    pw_h2_stream *st = pw_h2i_stream_find(s, sid);
    if (idle_stream(s, sid, st)) /* §5.1 idle: only HEADERS / PRIORITY */
        return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "WINDOW_UPDATE on idle stream");
    if (!st || st->state == PW_H2_SS_CLOSED) return 0; /* §5.1 closed: may arrive; ignore */
    if (f->stream_error) return pw_h2i_stream_error(s, sid, f->stream_error); /* §6.9: 0 */
    if (st->send_window + inc > PW_H2_WINDOW_MAX_BYTES)                       /* §6.9.1 */
        return pw_h2i_stream_error(s, sid, PW_H2_FLOW_CONTROL_ERROR);
    st->send_window += inc;
    if (st->send_window > 0 && pw_h2i_stream_has_output(st)) pw_h2i_sendq_add(s, st);
    return 0;
}

int pw_h2i_on_rst_stream(pw_h2_session *s, const pw_h2_frame *f)
{
    uint32_t sid = f->hd.stream_id;
    pw_h2_stream *st = pw_h2i_stream_find(s, sid);
    if (idle_stream(s, sid, st)) /* §6.4 */
        return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "RST_STREAM on idle stream");
    if (!st || st->state == PW_H2_SS_CLOSED) return 0; /* §5.1: crossed with our close */
    s->peer_resets++;
    /* CVE-2023-44487 rapid reset: open-then-cancel costs us more than it costs the peer. */
    if (!pw_h2i_bucket_take(&s->reset_budget, s->now_ns))
        return pw_h2i_fail(s, PW_H2_ENHANCE_YOUR_CALM, "rapid reset");
    pw_h2i_stream_close(s, st, f->u.rst_stream.error_code, PW_H2_CLOSED_BY_PEER);
    return 0;
}

int pw_h2i_on_priority(pw_h2_session *s, const pw_h2_frame *f)
{
    /* §5.3.2: priority signals are ignored, but the frame is still validated (§6.3). */
    if (!f->stream_error) return 0;
    uint32_t sid = f->hd.stream_id;
    /* §6.4: no RST_STREAM on an idle stream: the stream error becomes a connection error. */
    if (idle_stream(s, sid, pw_h2i_stream_find(s, sid)))
        return pw_h2i_fail(s, f->stream_error, "invalid PRIORITY on idle stream");
    return pw_h2i_stream_error(s, sid, f->stream_error);
}
