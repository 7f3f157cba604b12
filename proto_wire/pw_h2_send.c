/* proto_wire/pw_h2_send: everything we send. submit_* queue per-stream work; the pump turns it
 * into HEADERS (+ CONTINUATION, §6.10) and DATA frames while the send windows (§6.9) and the
 * output watermark allow; control frames go straight to the output, counted against the
 * control-flood budget (CVE-2019-9512/9514/9515). */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_h2_int.h"

enum unit_result { UNIT_NOTHING, UNIT_SENT, UNIT_BLOCKED_STREAM, UNIT_BLOCKED_CONN };

/* Per field, an upper bound of the HPACK overhead beyond name and value: a representation
 * byte plus two length prefixes of at most 5 bytes each (RFC 7541 §5.1, 32-bit lengths). */
#define HPACK_FIELD_OVERHEAD_MAX 11u
/* A dynamic table size update at the start of a block (RFC 7541 §6.3). */
#define HPACK_BLOCK_OVERHEAD_MAX 10u

static bool failed(const pw_h2_session *s) { return s->in_state == PW_H2_IN_FAILED; }

/* ---- send queue ---- */

void pw_h2i_sendq_add(pw_h2_session *s, pw_h2_stream *st)
{
    if (st->flags & PW_H2_SF_IN_SENDQ) return;
    st->flags |= PW_H2_SF_IN_SENDQ;
    st->sq_next = NULL;
    st->sq_prev = s->sq_tail;
    if (s->sq_tail) s->sq_tail->sq_next = st;
    else s->sq_head = st;
    s->sq_tail = st;
    s->sq_len++;
}

void pw_h2i_sendq_remove(pw_h2_session *s, pw_h2_stream *st)
{
    if (!(st->flags & PW_H2_SF_IN_SENDQ)) return;
    st->flags &= (uint16_t)~PW_H2_SF_IN_SENDQ;
    if (st->sq_prev) st->sq_prev->sq_next = st->sq_next;
    else s->sq_head = st->sq_next;
    if (st->sq_next) st->sq_next->sq_prev = st->sq_prev;
    else s->sq_tail = st->sq_prev;
    st->sq_prev = st->sq_next = NULL;
    s->sq_len--;
}

/* Our side of the stream has not ended yet (§5.1: idle, open, half-closed (remote)). */
static bool we_send(const pw_h2_stream *st)
{
    return st->state == PW_H2_SS_IDLE || st->state == PW_H2_SS_OPEN ||
           st->state == PW_H2_SS_HALF_CLOSED_REMOTE;
}

bool pw_h2i_stream_has_output(const pw_h2_stream *st)
{
    return we_send(st) && (st->out_headers || pw_h2i_stream_pending(st) || st->out_trailers ||
                           (st->flags & PW_H2_SF_ES_SUBMIT));
}

/* ---- control frames ---- */

static bool ctrl_room(const pw_h2_session *s, size_t n)
{
    return buf_size(&s->out) + n <= PW_H2_OUT_CAP_BYTES - PW_H2_OUT_GOAWAY_RESERVE_BYTES;
}

/* After appending a control frame: a response the peer provoked counts until the output
 * holding it has been consumed. A peer that keeps provoking without reading is cut off. */
static int ctrl_done(pw_h2_session *s, bool provoked)
{
    s->frames_out++;
    if (!provoked) return 0;
    s->ctrl_queued++;
    s->ctrl_last_end = s->out_consumed_total + pw_h2i_out_size(s);
    if (s->ctrl_queued > PW_H2_OUT_CTRL_QUEUED_MAX)
        return pw_h2i_fail(s, PW_H2_ENHANCE_YOUR_CALM, "control frame flood");
    return 0;
}

static int ctrl_check(pw_h2_session *s, size_t n)
{
    if (failed(s)) return pw_h2i_neg(s->error_code);
    if (!ctrl_room(s, n)) return pw_h2i_fail(s, PW_H2_ENHANCE_YOUR_CALM, "output buffer full");
    return 0;
}

int pw_h2i_out_rst(pw_h2_session *s, uint32_t id, uint32_t code)
{
    int rc = ctrl_check(s, PW_H2_FRAME_HEADER_BYTES + 4);
    if (rc < 0) return rc;
    if (pw_h2_write_rst_stream(&s->out, id, code) < 0)
        return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "out of memory");
    s->local_resets++;
    return ctrl_done(s, true);
}

int pw_h2i_out_window_update(pw_h2_session *s, uint32_t id, uint32_t inc)
{
    int rc = ctrl_check(s, PW_H2_FRAME_HEADER_BYTES + 4);
    if (rc < 0) return rc;
    if (pw_h2_write_window_update(&s->out, id, inc) < 0)
        return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "out of memory");
    /* Not counted: the peer must send half a window of DATA for each one. */
    return ctrl_done(s, false);
}

int pw_h2i_out_settings_ack(pw_h2_session *s)
{
    int rc = ctrl_check(s, PW_H2_FRAME_HEADER_BYTES);
    if (rc < 0) return rc;
    if (pw_h2_write_settings_ack(&s->out) < 0)
        return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "out of memory");
    return ctrl_done(s, true);
}

int pw_h2i_out_ping_ack(pw_h2_session *s, const uint8_t opaque[PW_H2_PING_PAYLOAD_BYTES])
{
    int rc = ctrl_check(s, PW_H2_CTRL_FRAME_MAX_BYTES);
    if (rc < 0) return rc;
    if (pw_h2_write_ping(&s->out, true, opaque) < 0)
        return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "out of memory");
    return ctrl_done(s, true);
}

/* ---- header blocks out ---- */

void pw_h2i_hlist_free(pw_h2_hlist *l)
{
    if (!l) return;
    assert(l->refs > 0);
    if (--l->refs == 0) rt_free(l);
}

static bool out_name_ok(const char *p, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || (c >= 'A' && c <= 'Z') || c >= 0x7f || (c == ':' && i > 0)) return false;
    }
    return true;
}

static bool out_value_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\0' || p[i] == '\r' || p[i] == '\n') return false;
    return true;
}

/* Copies a header list into one allocation. Returns 0, -EINVAL, -E2BIG or -ENOMEM. */
static int hlist_copy(const pw_h2_header *h, size_t n, pw_h2_hlist **out)
{
    size_t bytes = 0, enc = HPACK_BLOCK_OVERHEAD_MAX;
    for (size_t i = 0; i < n; i++) {
        if (!out_name_ok(h[i].name, h[i].name_len) || !out_value_ok(h[i].value, h[i].value_len))
            return -EINVAL;
        bytes += h[i].name_len + h[i].value_len;
        enc += h[i].name_len + h[i].value_len + HPACK_FIELD_OVERHEAD_MAX;
        if (enc > PW_H2_OUT_HEADER_BLOCK_MAX_BYTES) return -E2BIG;
    }
    const size_t alloc_bytes = sizeof(pw_h2_hlist) + n * sizeof(pw_h2_header) + bytes + 1;
    pw_h2_hlist *l = rt_malloc(alloc_bytes);
    if (!l) return -ENOMEM;
    l->refs = 1;
    l->alloc_bytes = alloc_bytes;
    l->n = n;
    l->encoded_max = enc;
    char *w = (char *)(l->h + n);
    for (size_t i = 0; i < n; i++) {
        l->h[i] = h[i];
        memcpy(w, h[i].name, h[i].name_len);
        l->h[i].name = w;
        w += h[i].name_len;
        if (h[i].value_len) memcpy(w, h[i].value, h[i].value_len);
        l->h[i].value = w;
        w += h[i].value_len;
    }
    *out = l;
    return 0;
}

/* ---- the block cache ----
 * A gRPC server sends the same response headers and the same OK trailers on every call. The
 * session keeps the last list submitted per slot (PW_H2_HCACHE_SLOTS); an equal list submitted
 * again shares it (no copy, no allocation). Once a list encodes without changing the encoder's
 * dynamic table (every field an index, the usual case from the second call on), its bytes are
 * kept and sent as they are while the table stays the same generation (pw_hpack_enc.gen): the
 * same list under the same table is the same block (RFC 7541 §2.3: indexes name table entries,
 * so equal tables give equal indexes). */

static bool hlist_equal(const pw_h2_hlist *l, const pw_h2_header *h, size_t n)
{
    if (l->n != n) return false;
    for (size_t i = 0; i < n; i++) {
        const pw_h2_header *a = &l->h[i], *b = &h[i];
        if (a->name_len != b->name_len || a->value_len != b->value_len || a->flags != b->flags ||
            memcmp(a->name, b->name, a->name_len) != 0 ||
            (a->value_len && memcmp(a->value, b->value, a->value_len) != 0))
            return false;
    }
    return true;
}

void pw_h2i_hcache_clear(pw_h2_session *s)
{
    for (size_t k = 0; k < PW_H2_HCACHE_SLOTS; k++) {
        pw_h2i_hlist_free(s->hcache[k].list);
        s->hcache[k].list = NULL;
        s->hcache[k].src = NULL;
        s->hcache[k].enc_len = 0;
    }
}

/* The list for slot `k`: the cached one (a new reference) when equal, else a copy that becomes
 * the slot's list. A constant list (`is_const`: static storage that never changes) the slot
 * already copies is known by its address, without comparing (a gRPC server's response headers
 * and OK trailers: hlist_equal's memcmps were ~300 instructions a call, callgrind e2e b1).
 * Returns 0, -EINVAL, -E2BIG or -ENOMEM (the cache unchanged). */
static int hlist_get(pw_h2_session *s, size_t k, const pw_h2_header *h, size_t n, bool is_const,
                     pw_h2_hlist **out)
{
    assert(k < PW_H2_HCACHE_SLOTS);
    pw_h2_hlist *c = s->hcache[k].list;
    if (c && is_const && s->hcache[k].src == h && s->hcache[k].src_n == n) {
        s->hcache_const_hits++;
        c->refs++;
        *out = c;
        return 0;
    }
    if (c && hlist_equal(c, h, n)) {
        c->refs++;
        *out = c;
        if (is_const) {
            s->hcache[k].src = h;
            s->hcache[k].src_n = n;
        }
        return 0;
    }
    int rc = hlist_copy(h, n, out);
    if (rc < 0) return rc;
    pw_h2i_hlist_free(c);
    (*out)->refs++;
    s->hcache[k].list = *out;
    s->hcache[k].src = is_const ? h : NULL;
    s->hcache[k].src_n = n;
    s->hcache[k].enc_len = 0;
    return 0;
}

/* The cache slot holding `l`, or PW_H2_HCACHE_SLOTS. */
static size_t hcache_slot(const pw_h2_session *s, const pw_h2_hlist *l)
{
    for (size_t k = 0; k < PW_H2_HCACHE_SLOTS; k++)
        if (s->hcache[k].list == l) return k;
    return PW_H2_HCACHE_SLOTS;
}

/* Encodes `l` into the output: from the cache when its bytes are valid for the encoder's table,
 * else field by field (then kept when the encoding left the table unchanged). 0 or -ENOMEM /
 * -ENOBUFS (partial output: the caller truncates). */
static int hpack_block(pw_h2_session *s, const pw_h2_hlist *l)
{
    const size_t k = hcache_slot(s, l);
    if (k < PW_H2_HCACHE_SLOTS && s->hcache[k].enc_len && !s->enc.update_pending &&
        s->hcache[k].enc_gen == s->enc.gen) {
        s->hcache_hits++;
        return buf_append(&s->out, s->hcache[k].enc, s->hcache[k].enc_len);
    }
    const size_t start = buf_size(&s->out);
    const uint64_t gen = s->enc.gen;
    int rc = pw_hpack_encode_begin(&s->enc, &s->out);
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        const pw_h2_header *h = &l->h[i];
        rc = pw_hpack_encode_field(&s->enc, &s->out, (const uint8_t *)h->name, h->name_len,
                                   (const uint8_t *)h->value, h->value_len, h->flags);
    }
    const size_t len = buf_size(&s->out) - start;
    if (rc == 0 && k < PW_H2_HCACHE_SLOTS && gen == s->enc.gen &&
        len <= PW_H2_HCACHE_BLOCK_MAX_BYTES) {
        memcpy(s->hcache[k].enc, (const uint8_t *)buf_begin(&s->out) + start, len);
        s->hcache[k].enc_len = (uint32_t)len;
        s->hcache[k].enc_gen = gen;
    }
    return rc;
}

static uint32_t frame_max(const pw_h2_session *s)
{
    return s->peer_max_frame < PW_H2_OUT_FRAME_MAX_BYTES ? s->peer_max_frame
                                                         : PW_H2_OUT_FRAME_MAX_BYTES;
}

/* Encodes `l` straight into the output after a placeholder frame header, then splits it into
 * HEADERS + CONTINUATION frames in place (§4.3: one contiguous sequence). The caller ensured
 * room (output below the watermark), so an encoder failure can only be ENOMEM. */
static int out_header_block(pw_h2_session *s, uint32_t id, const pw_h2_hlist *l, bool es)
{
    size_t start = buf_size(&s->out);
    uint8_t *room;
    if (buf_reserve(&s->out, PW_H2_FRAME_HEADER_BYTES, &room) < 0) goto nomem;
    buf_commit(&s->out, PW_H2_FRAME_HEADER_BYTES);
    if (hpack_block(s, l) != 0) goto nomem;
    size_t len = buf_size(&s->out) - start - PW_H2_FRAME_HEADER_BYTES, fmax = frame_max(s);
    size_t nframes = len <= fmax ? 1 : (len + fmax - 1) / fmax;
    size_t extra = (nframes - 1) * PW_H2_FRAME_HEADER_BYTES;
    if (extra) {
        if (buf_reserve(&s->out, extra, &room) < 0) goto nomem;
        buf_commit(&s->out, extra);
    }
    uint8_t *base = (uint8_t *)buf_begin(&s->out) + start + PW_H2_FRAME_HEADER_BYTES;
    for (size_t i = nframes - 1; i >= 1; i--) { /* back to front so nothing is overwritten */
        size_t clen = i == nframes - 1 ? len - i * fmax : fmax;
        uint8_t *dst = base + i * fmax + i * PW_H2_FRAME_HEADER_BYTES;
        memmove(dst, base + i * fmax, clen);
        pw_h2_frame_hd hd = {(uint32_t)clen, PW_H2_FT_CONTINUATION,
                             i == nframes - 1 ? PW_H2_FLAG_END_HEADERS : 0, id};
        pw_h2_frame_hd_encode(dst - PW_H2_FRAME_HEADER_BYTES, &hd);
    }
    uint8_t flags = (uint8_t)((es ? PW_H2_FLAG_END_STREAM : 0) |
                              (nframes == 1 ? PW_H2_FLAG_END_HEADERS : 0));
    pw_h2_frame_hd hd = {(uint32_t)(nframes == 1 ? len : fmax), PW_H2_FT_HEADERS, flags, id};
    pw_h2_frame_hd_encode(base - PW_H2_FRAME_HEADER_BYTES, &hd);
    s->frames_out += nframes;
    return 0;
nomem:
    /* Nothing of the half-written block may reach the peer (the GOAWAY follows the frames
     * before it). The HPACK encoder state may now differ from what the peer will see: fatal
     * (§4.3). */
    buf_truncate(&s->out, start);
    return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "header encoding failed");
}

/* ---- the pump ---- */

static int send_headers_unit(pw_h2_session *s, pw_h2_stream *st, pw_h2_hlist **slot, bool es)
{
    pw_h2_hlist *l = *slot;
    *slot = NULL;
    int rc = out_header_block(s, st->id, l, es);
    pw_h2i_hlist_free(l);
    if (rc < 0) return rc;
    if (st->state == PW_H2_SS_IDLE) pw_h2i_stream_set_state(s, st, PW_H2_SS_OPEN);
    st->flags |= PW_H2_SF_HDRS_OUT;
    if (es) pw_h2i_stream_on_send_es(s, st);
    return UNIT_SENT;
}

static int send_data_unit(pw_h2_session *s, pw_h2_stream *st)
{
    size_t pend = pw_h2i_stream_pending(st);
    if (st->send_window <= 0) return UNIT_BLOCKED_STREAM;
    if (s->conn_send_window <= 0) return UNIT_BLOCKED_CONN;
    size_t n = pend;
    if ((int64_t)n > st->send_window) n = (size_t)st->send_window;
    if ((int64_t)n > s->conn_send_window) n = (size_t)s->conn_send_window;
    if (n > frame_max(s)) n = frame_max(s);
    /* The copied `pending` first, then the references in order; a frame holds the rest of
     * `pending` and the start of the first reference at most. */
    size_t npre = buf_size(&st->pending) < n ? buf_size(&st->pending) : n;
    size_t nref = st->refs ? (n - npre < st->refs->n ? n - npre : st->refs->n) : 0;
    n = npre + nref;
    bool es = (st->flags & PW_H2_SF_ES_SUBMIT) && n == pend && !st->out_trailers;
    uint8_t flags = es ? PW_H2_FLAG_END_STREAM : 0;
    if (nref > 0) {
        int rc = pw_h2i_sref_frame(s, st, npre, nref, flags);
        if (rc < 0) return rc;
    } else {
        if (pw_h2_write_data(&s->out, st->id, flags, buf_begin(&st->pending), n, -1) < 0)
            return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "out of memory");
        buf_consume(&st->pending, n);
        pw_h2i_pending_shrink(st);
    }
    s->frames_out++;
    st->send_window -= (int64_t)n;
    s->conn_send_window -= (int64_t)n;
    if ((st->flags & PW_H2_SF_WANT_WRITABLE) &&
        pw_h2i_stream_pending(st) <= s->cfg.stream_pending_max / PW_H2_STREAM_WRITABLE_DIVISOR) {
        st->flags &= (uint16_t)~PW_H2_SF_WANT_WRITABLE;
        st->flags |= PW_H2_SF_EV_WRITABLE;
        pw_h2i_event_queue(s, st);
    }
    if (es) pw_h2i_stream_on_send_es(s, st);
    return UNIT_SENT;
}

/* Generates the next frame(s) of one stream, in order: headers, DATA, trailers / END_STREAM. */
static int send_unit(pw_h2_session *s, pw_h2_stream *st)
{
    if (!we_send(st)) return UNIT_NOTHING;
    bool pend = pw_h2i_stream_pending(st) > 0;
    if (st->out_headers) {
        bool es = (st->flags & PW_H2_SF_ES_SUBMIT) && !pend && !st->out_trailers;
        return send_headers_unit(s, st, &st->out_headers, es);
    }
    if (!(st->flags & PW_H2_SF_HDRS_OUT)) return UNIT_NOTHING;
    if (pend) return send_data_unit(s, st);
    if (st->out_trailers) return send_headers_unit(s, st, &st->out_trailers, true);
    if (st->flags & PW_H2_SF_ES_SUBMIT) { /* END_STREAM on an empty DATA frame */
        if (pw_h2_write_data(&s->out, st->id, PW_H2_FLAG_END_STREAM, NULL, 0, -1) < 0)
            return pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "out of memory");
        s->frames_out++;
        pw_h2i_stream_on_send_es(s, st);
        return UNIT_SENT;
    }
    return UNIT_NOTHING;
}

void pw_h2i_pump(pw_h2_session *s)
{
    uint32_t idle = 0; /* consecutive streams that could not progress (connection window) */
    s->data_deferred = false;
    while (!failed(s) && s->sq_head && idle < s->sq_len &&
           pw_h2i_out_size(s) < PW_H2_OUT_DATA_WATERMARK_BYTES) {
        pw_h2_stream *st = s->sq_head;
        pw_h2i_sendq_remove(s, st);
        int r = send_unit(s, st);
        if (r < 0) return;
        if (r == UNIT_SENT) idle = 0;
        if (r == UNIT_BLOCKED_CONN) idle++;
        /* Round robin: back to the tail while it has more, unless its own window is shut (a
         * WINDOW_UPDATE or SETTINGS re-queues it). */
        if ((r == UNIT_SENT || r == UNIT_BLOCKED_CONN) && pw_h2i_stream_has_output(st))
            pw_h2i_sendq_add(s, st);
    }
}

/* ---- output ---- */

void pw_h2_session_output(pw_h2_session *s, const uint8_t **p, size_t *n)
{
    pw_h2i_pump(s);
    *n = buf_size(&s->out);
    /* A session that references its output is read with pw_h2_session_output_take; here only
     * the bytes before the first reference can be offered. */
    if (s->orefs.nrefs > 0) *n = s->orefs.refs[0].at;
    *p = *n ? buf_begin(&s->out) : NULL;
}

void pw_h2_session_output_consume(pw_h2_session *s, size_t n)
{
    assert(n <= buf_size(&s->out));
    assert(s->orefs.nrefs == 0 || n <= s->orefs.refs[0].at);
    buf_consume(&s->out, n);
    for (uint32_t i = 0; i < s->orefs.nrefs; i++) s->orefs.refs[i].at -= n;
    s->out_consumed_total += n;
    if (s->out_consumed_total >= s->ctrl_last_end) s->ctrl_queued = 0;
    pw_h2i_pump(s);
    buf_shrink(&s->out, 0); /* drained: an idle connection holds no output storage */
    pw_h2i_run_events(s);
}

/* ---- submit ---- */

static pw_h2_stream *live_stream(pw_h2_session *s, uint32_t id)
{
    pw_h2_stream *st = pw_h2i_stream_find(s, id);
    return st && st->state != PW_H2_SS_CLOSED ? st : NULL;
}

static void after_submit(pw_h2_session *s, pw_h2_stream *st)
{
    if (st && pw_h2i_stream_has_output(st)) pw_h2i_sendq_add(s, st);
    pw_h2i_pump(s);
    pw_h2i_run_events(s);
}

static int submit_headers(pw_h2_session *s, uint32_t stream_id, const pw_h2_header *hdrs, size_t n,
                          bool end_stream, bool is_const)
{
    pw_h2_stream *st = live_stream(s, stream_id);
    if (!st) return -ENOENT;
    if ((st->flags & PW_H2_SF_HDRS_SUBMIT) || !we_send(st)) return -EPIPE;
    pw_h2_hlist *l;
    int rc = hlist_get(s, PW_H2_HCACHE_HEADERS, hdrs, n, is_const, &l);
    if (rc < 0) return rc;
    st->out_headers = l;
    st->flags |= PW_H2_SF_HDRS_SUBMIT | (end_stream ? PW_H2_SF_ES_SUBMIT : 0);
    after_submit(s, st);
    return 0;
}

int pw_h2_submit_headers(pw_h2_session *s, uint32_t stream_id, const pw_h2_header *hdrs, size_t n,
                         bool end_stream)
{
    return submit_headers(s, stream_id, hdrs, n, end_stream, false);
}

int pw_h2_submit_headers_const(pw_h2_session *s, uint32_t stream_id, const pw_h2_header *hdrs,
                               size_t n, bool end_stream)
{
    return submit_headers(s, stream_id, hdrs, n, end_stream, true);
}

ssize_t pw_h2_submit_data(pw_h2_session *s, uint32_t stream_id, const uint8_t *p, size_t n,
                          bool end_stream)
{
    pw_h2_stream *st = live_stream(s, stream_id);
    if (!st) return -ENOENT;
    if (!(st->flags & PW_H2_SF_HDRS_SUBMIT) || (st->flags & PW_H2_SF_ES_SUBMIT) || !we_send(st))
        return -EPIPE;
    size_t pend = pw_h2i_stream_pending(st);
    size_t room = pend < s->cfg.stream_pending_max ? s->cfg.stream_pending_max - pend : 0;
    size_t take = n < room ? n : room;
    if (n > 0 && take == 0) {
        st->flags |= PW_H2_SF_WANT_WRITABLE;
        return -ENOBUFS;
    }
    /* Behind a reference, a copy joins the references (order is the stream's byte order). */
    if (take &&
        (st->refs ? pw_h2i_sref_push_copy(st, p, take) : buf_append(&st->pending, p, take)) < 0)
        return -ENOMEM;
    if (take < n) st->flags |= PW_H2_SF_WANT_WRITABLE;
    else if (end_stream) st->flags |= PW_H2_SF_ES_SUBMIT;
    if (end_stream || take < n) {
        after_submit(s, st);
        return (ssize_t)take;
    }
    /* Framed when the output is next read (pw_h2_session_output, _take and _consume pump
     * first), not now: the messages a stream is given between two reads leave as one DATA
     * frame (up to the peer's MAX_FRAME_SIZE and the windows), not a frame each. */
    if (take && pw_h2i_stream_has_output(st)) {
        pw_h2i_sendq_add(s, st);
        s->data_deferred = true;
    }
    return (ssize_t)take;
}

int pw_h2_submit_data_ref(pw_h2_session *s, uint32_t stream_id, const uint8_t *pre, size_t npre,
                          rt_blob *blob, const uint8_t *p, size_t n)
{
    pw_h2_stream *st = live_stream(s, stream_id);
    if (!st) return -ENOENT;
    if (!(st->flags & PW_H2_SF_HDRS_SUBMIT) || (st->flags & PW_H2_SF_ES_SUBMIT) || !we_send(st))
        return -EPIPE;
    if (n == 0 && npre == 0) return 0;
    /* Both before the pump runs, so the prefix and the payload's start share a frame. */
    size_t mark = buf_size(&st->pending);
    if (npre &&
        (st->refs ? pw_h2i_sref_push_copy(st, pre, npre) : buf_append(&st->pending, pre, npre)) < 0)
        return -ENOMEM;
    if (n && pw_h2i_sref_submit(st, blob, p, n) < 0) {
        if (npre && !st->refs_tail) buf_truncate(&st->pending, mark);
        else if (npre) pw_h2i_sref_pop_tail(st);
        return -ENOMEM;
    }
    if (pw_h2i_stream_pending(st) > s->cfg.stream_pending_max) st->flags |= PW_H2_SF_WANT_WRITABLE;
    after_submit(s, st);
    return 0;
}

static int submit_trailers(pw_h2_session *s, uint32_t stream_id, const pw_h2_header *hdrs, size_t n,
                           bool is_const)
{
    pw_h2_stream *st = live_stream(s, stream_id);
    if (!st) return -ENOENT;
    if (!(st->flags & PW_H2_SF_HDRS_SUBMIT) || (st->flags & PW_H2_SF_ES_SUBMIT) || !we_send(st))
        return -EPIPE;
    pw_h2_hlist *l;
    int rc = hlist_get(s, PW_H2_HCACHE_TRAILERS, hdrs, n, is_const, &l);
    if (rc < 0) return rc;
    st->out_trailers = l;
    st->flags |= PW_H2_SF_TRL_SUBMIT | PW_H2_SF_ES_SUBMIT;
    after_submit(s, st);
    return 0;
}

int pw_h2_submit_trailers(pw_h2_session *s, uint32_t stream_id, const pw_h2_header *hdrs, size_t n)
{
    return submit_trailers(s, stream_id, hdrs, n, false);
}

int pw_h2_submit_trailers_const(pw_h2_session *s, uint32_t stream_id, const pw_h2_header *hdrs,
                                size_t n)
{
    return submit_trailers(s, stream_id, hdrs, n, true);
}

int pw_h2_submit_rst(pw_h2_session *s, uint32_t stream_id, uint32_t error_code)
{
    pw_h2_stream *st = live_stream(s, stream_id);
    if (!st) return -ENOENT;
    /* §6.4: no RST_STREAM for an idle stream (a request whose HEADERS never left). */
    if (st->state != PW_H2_SS_IDLE) {
        int rc = pw_h2i_out_rst(s, stream_id, error_code);
        if (rc < 0) {
            pw_h2i_run_events(s);
            return 0; /* the connection failed instead; the stream is closed with it */
        }
    }
    pw_h2i_stream_close(s, st, error_code, PW_H2_CLOSED_BY_US);
    after_submit(s, NULL);
    return 0;
}

int pw_h2_submit_goaway(pw_h2_session *s, uint32_t error_code, const uint8_t *debug,
                        size_t debug_len)
{
    if (s->goaway_sent) return -EALREADY;
    if (error_code != PW_H2_NO_ERROR) {
        pw_h2i_fail_debug(s, error_code, "GOAWAY submitted", debug, debug_len);
    } else {
        /* §6.8: graceful: streams up to last_processed_id complete; later ones are refused. */
        if (debug_len > PW_H2_GOAWAY_DEBUG_MAX_BYTES) debug_len = PW_H2_GOAWAY_DEBUG_MAX_BYTES;
        if (pw_h2_write_goaway(&s->out, s->last_processed_id, PW_H2_NO_ERROR, debug, debug_len) ==
            0)
            s->frames_out++;
        s->goaway_sent = true;
        s->goaway_sent_code = PW_H2_NO_ERROR;
    }
    after_submit(s, NULL);
    return 0;
}

int pw_h2_submit_ping(pw_h2_session *s, const uint8_t opaque[PW_H2_PING_PAYLOAD_BYTES])
{
    if (failed(s) || !ctrl_room(s, PW_H2_CTRL_FRAME_MAX_BYTES)) return -ENOBUFS;
    if (pw_h2_write_ping(&s->out, false, opaque) < 0) return -ENOBUFS;
    s->frames_out++;
    return 0;
}

int64_t pw_h2_submit_request(pw_h2_session *s, const pw_h2_header *hdrs, size_t n, bool end_stream,
                             void *stream_user)
{
    if (s->role != PW_H2_ROLE_CLIENT) return -EPROTO;
    if (failed(s) || s->goaway_sent || s->goaway_recvd) return -ENOTCONN;
    if (s->n_local_live >= s->peer_max_concurrent) return -EAGAIN; /* §5.1.2 */
    if (s->next_local_id > PW_H2_STREAM_ID_MAX) return -ENOSPC;    /* §5.1.1 */
    pw_h2_hlist *l; /* a client submits no response headers: their slot holds requests */
    int rc = hlist_get(s, PW_H2_HCACHE_HEADERS, hdrs, n, false, &l);
    if (rc < 0) return rc;
    pw_h2_stream *st = pw_h2i_stream_new(s, s->next_local_id, true);
    if (!st) {
        pw_h2i_hlist_free(l);
        return -ENOMEM;
    }
    s->next_local_id += 2;
    st->user = stream_user;
    st->out_headers = l;
    st->flags |= PW_H2_SF_HDRS_SUBMIT | (end_stream ? PW_H2_SF_ES_SUBMIT : 0);
    for (size_t i = 0; i < n; i++)
        if (hdrs[i].name_len == 7 && memcmp(hdrs[i].name, ":method", 7) == 0 &&
            hdrs[i].value_len == 4 && memcmp(hdrs[i].value, "HEAD", 4) == 0)
            st->flags |= PW_H2_SF_HEAD_REQ;
    uint32_t id = st->id;
    after_submit(s, st);
    return id;
}

/* ---- per-stream accessors ---- */

int pw_h2_stream_set_user(pw_h2_session *s, uint32_t stream_id, void *user)
{
    pw_h2_stream *st = pw_h2i_stream_find(s, stream_id);
    if (!st) return -ENOENT;
    st->user = user;
    return 0;
}

void *pw_h2_stream_get_user(const pw_h2_session *s, uint32_t stream_id)
{
    const pw_h2_stream *st = pw_h2i_stream_find(s, stream_id);
    return st ? st->user : NULL;
}

size_t pw_h2_stream_pending(const pw_h2_session *s, uint32_t stream_id)
{
    const pw_h2_stream *st = pw_h2i_stream_find(s, stream_id);
    return st ? pw_h2i_stream_pending(st) : 0;
}

int64_t pw_h2_stream_send_window(const pw_h2_session *s, uint32_t stream_id)
{
    const pw_h2_stream *st = pw_h2i_stream_find(s, stream_id);
    return st ? st->send_window : 0;
}
