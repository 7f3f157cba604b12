/* proto_wire/pw_h2_session: session lifecycle, input framing and connection-level frames
 * (RFC 9113 §3.4 preface, §4 framing, §5.4.1 connection errors, §6.5 SETTINGS, §6.7 PING,
 * §6.8 GOAWAY). */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_h2_int.h"

static_assert(sizeof(pw_h2_session) <= PW_H2_SESSION_STRUCT_MAX_BYTES,
              "the per-connection struct is part of the idle memory budget");

void pw_h2_config_default(pw_h2_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_concurrent_streams = PW_H2_DEFAULT_MAX_CONCURRENT_STREAMS;
    c->initial_window_size = PW_H2_DEFAULT_STREAM_WINDOW_BYTES;
    c->max_frame_size = PW_H2_DEFAULT_MAX_FRAME_BYTES;
    c->max_header_list_size = PW_H2_DEFAULT_MAX_HEADER_LIST_BYTES;
    c->header_table_size = PW_H2_DEFAULT_HEADER_TABLE_BYTES;
    c->conn_window_size = PW_H2_DEFAULT_CONN_WINDOW_BYTES;
    c->stream_pending_max = PW_H2_DEFAULT_STREAM_PENDING_BYTES;
    c->reset_burst = PW_H2_RESET_BURST;
    c->reset_per_s = PW_H2_RESET_PER_S;
    c->empty_frame_burst = PW_H2_EMPTY_FRAME_BURST;
    c->empty_frame_per_s = PW_H2_EMPTY_FRAME_PER_S;
    c->auto_consume = false;
}

static uint32_t clamp32(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void config_clamp(pw_h2_config *c)
{
    c->max_frame_size = clamp32(c->max_frame_size, PW_H2_FRAME_SIZE_MIN_BYTES,
                                PW_H2_FRAME_SIZE_MAX_BYTES);
    c->initial_window_size = clamp32(c->initial_window_size, 0, PW_H2_WINDOW_MAX_BYTES);
    c->conn_window_size = clamp32(c->conn_window_size, PW_H2_CONN_WINDOW_MIN_BYTES,
                                  PW_H2_CONN_WINDOW_MAX_BYTES);
    /* A list must hold at least a few fields (each costs 32 + name + value). */
    c->max_header_list_size = clamp32(c->max_header_list_size, 256u, 1u << 24);
    c->stream_pending_max = clamp32(c->stream_pending_max, PW_H2_OUT_FRAME_MAX_BYTES, 1u << 30);
    c->reset_burst = clamp32(c->reset_burst, 1, UINT32_MAX);
    c->empty_frame_burst = clamp32(c->empty_frame_burst, 1, UINT32_MAX);
    c->reset_per_s = clamp32(c->reset_per_s, 0, 1000000000u);
    c->empty_frame_per_s = clamp32(c->empty_frame_per_s, 0, 1000000000u);
}

static void bucket_init(pw_h2_bucket *b, uint32_t burst, uint32_t per_s)
{
    b->tokens = b->burst = burst;
    b->per_s = per_s;
    b->last_ns = 0;
}

bool pw_h2i_bucket_take(pw_h2_bucket *b, uint64_t now_ns)
{
    if (b->per_s && now_ns > b->last_ns) {
        uint64_t period_ns = 1000000000ull / b->per_s, add = (now_ns - b->last_ns) / period_ns;
        if (add > 0) {
            if (add >= b->burst - b->tokens) {
                b->tokens = b->burst;
                b->last_ns = now_ns;
            } else {
                b->tokens += (uint32_t)add;
                b->last_ns += add * period_ns; /* keep the fraction of a period */
            }
        }
    }
    if (b->tokens == 0) return false;
    b->tokens--;
    return true;
}

bool pw_h2i_is_peer_id(const pw_h2_session *s, uint32_t id)
{
    /* §5.1.1: client-initiated streams are odd, server-initiated even. */
    return s->role == PW_H2_ROLE_SERVER ? (id & 1u) != 0 : (id & 1u) == 0;
}

/* Queues our SETTINGS (and the client preface) and the connection window increase (§3.4). */
static int queue_preface(pw_h2_session *s)
{
    pw_h2_setting st[6];
    size_t n = 0;
    if (s->role == PW_H2_ROLE_CLIENT) {
        int rc = buf_append(&s->out, pw_h2_preface, PW_H2_PREFACE_BYTES);
        if (rc < 0) return rc;
    }
    /* §6.5.2: a server MAY send ENABLE_PUSH only as 0; a client disables push with it. */
    st[n++] = (pw_h2_setting){PW_H2_SETTINGS_ENABLE_PUSH, 0};
    st[n++] = (pw_h2_setting){PW_H2_SETTINGS_MAX_CONCURRENT_STREAMS, s->cfg.max_concurrent_streams};
    st[n++] = (pw_h2_setting){PW_H2_SETTINGS_INITIAL_WINDOW_SIZE, s->cfg.initial_window_size};
    st[n++] = (pw_h2_setting){PW_H2_SETTINGS_MAX_HEADER_LIST_SIZE, s->cfg.max_header_list_size};
    if (s->cfg.max_frame_size != PW_H2_FRAME_SIZE_MIN_BYTES)
        st[n++] = (pw_h2_setting){PW_H2_SETTINGS_MAX_FRAME_SIZE, s->cfg.max_frame_size};
    if (s->cfg.header_table_size != PW_HPACK_TABLE_SIZE_DEFAULT)
        st[n++] = (pw_h2_setting){PW_H2_SETTINGS_HEADER_TABLE_SIZE, s->cfg.header_table_size};
    int rc = pw_h2_write_settings(&s->out, st, n);
    if (rc < 0) return rc;
    s->settings_ack_pending = true;
    s->frames_out++;
    /* §6.9.2: the connection window only grows by WINDOW_UPDATE. */
    if (s->cfg.conn_window_size > PW_H2_WINDOW_INITIAL_BYTES) {
        uint32_t inc = s->cfg.conn_window_size - PW_H2_WINDOW_INITIAL_BYTES;
        rc = pw_h2_write_window_update(&s->out, 0, inc);
        if (rc < 0) return rc;
        s->conn_recv_window += inc;
        s->frames_out++;
    }
    return 0;
}

pw_h2_session *pw_h2_session_create(pw_h2_role role, const pw_h2_config *cfg,
                                    const pw_h2_callbacks *cb, void *ud)
{
    pw_h2_session *s = rt_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->role = role;
    if (cfg) s->cfg = *cfg;
    else pw_h2_config_default(&s->cfg);
    config_clamp(&s->cfg);
    if (cb) s->cb = *cb;
    s->ud = ud;
    rt_cache_init(&s->stream_cache, sizeof(pw_h2_stream), PW_H2_STREAM_CACHE_MAX);
    uint32_t list = s->cfg.max_header_list_size;
    buf_init(&s->in, (size_t)s->cfg.max_frame_size + PW_H2_FRAME_HEADER_BYTES);
    buf_init(&s->hblock, (size_t)list * PW_H2_HEADER_BLOCK_IN_FACTOR);
    buf_init(&s->hbytes, list);
    buf_init(&s->hfields, (list / PW_H2_HEADER_FIELD_OVERHEAD_BYTES + 1) * sizeof(pw_h2_header));
    buf_init(&s->out, PW_H2_OUT_CAP_BYTES);
    s->in_state = role == PW_H2_ROLE_SERVER ? PW_H2_IN_PREFACE : PW_H2_IN_FIRST_SETTINGS;
    s->next_local_id = role == PW_H2_ROLE_CLIENT ? 1 : 2;
    s->conn_send_window = s->conn_recv_window = PW_H2_WINDOW_INITIAL_BYTES;
    s->local_initial_window = PW_H2_WINDOW_INITIAL_BYTES; /* until our SETTINGS are acked */
    s->peer_initial_window = PW_H2_WINDOW_INITIAL_BYTES;
    s->peer_max_frame = PW_H2_FRAME_SIZE_MIN_BYTES;
    /* §6.5.2 says unlimited until the peer's SETTINGS arrive; a client that opens more streams
     * than the server turns out to allow gets them refused (and a server may count the refusals
     * as abuse), so a client assumes the conventional limit until then. */
    s->peer_max_concurrent = role == PW_H2_ROLE_CLIENT ? PW_H2_CLIENT_INITIAL_PEER_STREAMS
                                                       : UINT32_MAX;
    s->peer_max_header_list = UINT32_MAX;
    bucket_init(&s->reset_budget, s->cfg.reset_burst, s->cfg.reset_per_s);
    bucket_init(&s->empty_budget, s->cfg.empty_frame_burst, s->cfg.empty_frame_per_s);
    if (pw_hpack_dec_init(&s->dec, s->cfg.header_table_size) != 0) goto fail_dec;
    if (pw_hpack_enc_init(&s->enc, PW_HPACK_TABLE_SIZE_DEFAULT) != 0) goto fail_enc;
    if (queue_preface(s) < 0) goto fail_out;
    return s;
fail_out:
    pw_hpack_enc_deinit(&s->enc);
fail_enc:
    pw_hpack_dec_deinit(&s->dec);
fail_dec:
    buf_deinit(&s->out);
    rt_free(s);
    return NULL;
}

void pw_h2_session_destroy(pw_h2_session *s)
{
    if (!s) return;
    assert(s->cb_depth == 0);
    /* Exactly-once on_stream_close: streams still live are cancelled now. */
    for (uint32_t i = 0; i < s->tab_cap; i++) {
        pw_h2_stream *st = s->tab ? s->tab[i] : NULL;
        if (st && st->state != PW_H2_SS_CLOSED)
            pw_h2i_stream_close(s, st, PW_H2_CANCEL, PW_H2_CLOSED_BY_US);
    }
    pw_h2i_run_events(s);
    assert(s->n_peer_live == 0 && s->n_local_live == 0);
    pw_h2i_stream_table_free(s);
    rt_cache_deinit(&s->stream_cache);
    pw_h2i_hcache_clear(s);
    pw_hpack_dec_deinit(&s->dec);
    pw_hpack_enc_deinit(&s->enc);
    buf_deinit(&s->in);
    buf_deinit(&s->hblock);
    buf_deinit(&s->hbytes);
    buf_deinit(&s->hfields);
    for (size_t k = 0; k < PW_H2_DCACHE_SLOTS; k++) rt_free(s->dcache[k]);
    buf_deinit(&s->out);
    pw_h2_outv_deinit(&s->orefs);
    rt_free(s);
}

int pw_h2i_fail(pw_h2_session *s, uint32_t code, const char *desc)
{
    return pw_h2i_fail_debug(s, code, desc, (const uint8_t *)desc, desc ? strlen(desc) : 0);
}

int pw_h2i_fail_debug(pw_h2_session *s, uint32_t code, const char *desc, const uint8_t *debug,
                      size_t dlen)
{
    if (s->in_state == PW_H2_IN_FAILED) return pw_h2i_neg(s->error_code);
    s->in_state = PW_H2_IN_FAILED;
    s->error_code = code;
    s->error_desc = desc;
    /* Input buffers may be in use by the frame being processed: released by recv's exit. */
    /* §5.4.1: GOAWAY with the last stream we processed and the error; the output keeps
     * PW_H2_OUT_GOAWAY_RESERVE_BYTES free for exactly this frame. */
    if (dlen > PW_H2_GOAWAY_DEBUG_MAX_BYTES) dlen = PW_H2_GOAWAY_DEBUG_MAX_BYTES;
    if (pw_h2_write_goaway(&s->out, s->last_processed_id, code, debug, dlen) == 0) s->frames_out++;
    s->goaway_sent = true;
    s->goaway_sent_code = code;
    for (uint32_t i = 0; i < s->tab_cap; i++) {
        pw_h2_stream *st = s->tab[i];
        if (st && st->state != PW_H2_SS_CLOSED)
            pw_h2i_stream_close(s, st, code, PW_H2_CLOSED_BY_US);
    }
    return pw_h2i_neg(code);
}

void pw_h2i_run_events(pw_h2_session *s)
{
    if (s->cb_depth > 0) return;
    pw_h2_stream *st;
    while ((st = s->ev_head) != NULL) {
        s->ev_head = st->ev_next;
        if (!s->ev_head) s->ev_tail = NULL;
        st->flags &= (uint16_t)~PW_H2_SF_EV_QUEUED;
        if (st->state == PW_H2_SS_CLOSED) {
            if (s->cb.on_stream_close) {
                s->cb_depth++;
                s->cb.on_stream_close(s->ud, st->id, st->close_code);
                s->cb_depth--;
            }
            pw_h2i_stream_free(s, st);
        } else if (st->flags & PW_H2_SF_EV_WRITABLE) {
            st->flags &= (uint16_t)~PW_H2_SF_EV_WRITABLE;
            if (s->cb.on_stream_writable) {
                s->cb_depth++;
                s->cb.on_stream_writable(s->ud, st->id);
                s->cb_depth--;
            }
        }
    }
}

/* ---- connection-level frames ---- */

static int on_settings(pw_h2_session *s, const pw_h2_frame *f)
{
    if (f->hd.flags & PW_H2_FLAG_ACK) {
        if (!s->settings_ack_pending) return 0; /* nothing outstanding: ignore */
        s->settings_ack_pending = false;
        /* §6.9.2: our INITIAL_WINDOW_SIZE now applies; open streams shift by the delta. */
        int64_t delta = (int64_t)s->cfg.initial_window_size - s->local_initial_window;
        s->local_initial_window = s->cfg.initial_window_size;
        for (uint32_t i = 0; i < s->tab_cap; i++)
            if (s->tab[i]) s->tab[i]->recv_window += delta;
        return 0;
    }
    if (!s->peer_settings_seen) {
        s->peer_settings_seen = true;
        s->peer_max_concurrent = UINT32_MAX; /* unless these SETTINGS say otherwise */
    }
    for (size_t i = 0; i < f->u.settings.count; i++) {
        pw_h2_setting st = pw_h2_settings_get(f, i);
        switch (st.id) {
        case PW_H2_SETTINGS_HEADER_TABLE_SIZE:
            pw_hpack_enc_set_max_table_size(&s->enc, st.value < PW_H2_ENC_TABLE_MAX_BYTES
                                                         ? st.value
                                                         : PW_H2_ENC_TABLE_MAX_BYTES);
            break;
        case PW_H2_SETTINGS_ENABLE_PUSH:
            if (s->role == PW_H2_ROLE_CLIENT && st.value == 1)
                return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "server sent ENABLE_PUSH 1");
            break;
        case PW_H2_SETTINGS_MAX_CONCURRENT_STREAMS: s->peer_max_concurrent = st.value; break;
        case PW_H2_SETTINGS_INITIAL_WINDOW_SIZE: {
            int rc = pw_h2i_peer_initial_window(s, st.value);
            if (rc < 0) return rc;
            break;
        }
        case PW_H2_SETTINGS_MAX_FRAME_SIZE: s->peer_max_frame = st.value; break;
        case PW_H2_SETTINGS_MAX_HEADER_LIST_SIZE: s->peer_max_header_list = st.value; break;
        default: break; /* §6.5.2: unknown settings are ignored */
        }
    }
    /* §6.5.3: acknowledge once all values are applied. */
    return pw_h2i_out_settings_ack(s);
}

static int on_ping(pw_h2_session *s, const pw_h2_frame *f)
{
    if (f->hd.flags & PW_H2_FLAG_ACK) { /* §6.7: an ACK is never answered */
        if (s->cb.on_ping_ack) {
            s->cb_depth++;
            s->cb.on_ping_ack(s->ud, f->u.ping.opaque);
            s->cb_depth--;
        }
        return 0;
    }
    return pw_h2i_out_ping_ack(s, f->u.ping.opaque);
}

static int on_goaway(pw_h2_session *s, const pw_h2_frame *f)
{
    uint32_t last = f->u.goaway.last_stream_id;
    s->goaway_recvd = true;
    if (s->cb.on_goaway) {
        s->cb_depth++;
        s->cb.on_goaway(s->ud, last, f->u.goaway.error_code, f->u.goaway.debug,
                        f->u.goaway.debug_len);
        s->cb_depth--;
    }
    /* §6.8: our streams above last_stream_id were not processed; safe to retry elsewhere. */
    for (uint32_t i = 0; i < s->tab_cap; i++) {
        pw_h2_stream *st = s->tab ? s->tab[i] : NULL;
        if (st && (st->flags & PW_H2_SF_LOCAL) && st->id > last && st->state != PW_H2_SS_CLOSED)
            pw_h2i_stream_close(s, st, PW_H2_REFUSED_STREAM, PW_H2_CLOSED_BY_US);
    }
    return 0;
}

static int on_frame(pw_h2_session *s, const pw_h2_frame_hd *hd, const uint8_t *payload)
{
    s->frames_in++;
    /* §3.4: the peer's preface ends with a SETTINGS frame, which must come first. */
    if (s->in_state == PW_H2_IN_FIRST_SETTINGS) {
        if (hd->type != PW_H2_FT_SETTINGS || (hd->flags & PW_H2_FLAG_ACK))
            return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "preface: first frame not SETTINGS");
        s->in_state = PW_H2_IN_FRAMES;
    }
    /* §6.2, §6.10: a field block is contiguous: only CONTINUATIONs of the same stream. */
    if (s->cont_stream && (hd->type != PW_H2_FT_CONTINUATION || hd->stream_id != s->cont_stream))
        return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "expected CONTINUATION");
    pw_h2_frame f;
    const char *desc = "malformed frame";
    int rc = pw_h2_frame_payload_decode(&f, hd, payload, &desc);
    if (rc < 0) return pw_h2i_fail(s, pw_h2_err_code(rc), desc);
    switch (hd->type) {
    case PW_H2_FT_DATA: rc = pw_h2i_on_data(s, &f); break;
    case PW_H2_FT_HEADERS: rc = pw_h2i_on_headers(s, &f); break;
    case PW_H2_FT_PRIORITY: rc = pw_h2i_on_priority(s, &f); break;
    case PW_H2_FT_RST_STREAM: rc = pw_h2i_on_rst_stream(s, &f); break;
    case PW_H2_FT_SETTINGS: rc = on_settings(s, &f); break;
    case PW_H2_FT_PUSH_PROMISE:
        /* §8.4: a client cannot push; we never enable push as a client (§6.6). */
        rc = pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "PUSH_PROMISE not allowed");
        break;
    case PW_H2_FT_PING: rc = on_ping(s, &f); break;
    case PW_H2_FT_GOAWAY: rc = on_goaway(s, &f); break;
    case PW_H2_FT_WINDOW_UPDATE: rc = pw_h2i_on_window_update(s, &f); break;
    case PW_H2_FT_CONTINUATION: rc = pw_h2i_on_continuation(s, &f); break;
    default: rc = 0; break; /* §5.5: unknown frame types are ignored */
    }
    pw_h2i_run_events(s);
    return rc;
}

/* Matches the client preface (§3.4) incrementally. Returns bytes used or a negative error. */
static ssize_t eat_preface(pw_h2_session *s, const uint8_t *in, size_t len)
{
    size_t n = PW_H2_PREFACE_BYTES - s->preface_got;
    if (n > len) n = len;
    if (memcmp(in, pw_h2_preface + s->preface_got, n) != 0)
        return pw_h2i_fail(s, PW_H2_PROTOCOL_ERROR, "invalid connection preface");
    s->preface_got = (uint8_t)(s->preface_got + n);
    if (s->preface_got == PW_H2_PREFACE_BYTES) s->in_state = PW_H2_IN_FIRST_SETTINGS;
    return (ssize_t)n;
}

/* Feeds bytes through the partial-frame buffer: returns bytes used. */
static size_t feed_partial(pw_h2_session *s, const uint8_t *in, size_t len)
{
    size_t have = buf_size(&s->in), need;
    pw_h2_frame_hd hd;
    if (have < PW_H2_FRAME_HEADER_BYTES) {
        need = PW_H2_FRAME_HEADER_BYTES - have;
    } else {
        pw_h2_frame_hd_decode(&hd, buf_begin(&s->in));
        need = PW_H2_FRAME_HEADER_BYTES + hd.length - have;
    }
    size_t take = need < len ? need : len;
    if (buf_append(&s->in, in, take) < 0) {
        pw_h2i_fail(s, PW_H2_INTERNAL_ERROR, "out of memory");
        return len;
    }
    have += take;
    if (have < PW_H2_FRAME_HEADER_BYTES) return take;
    pw_h2_frame_hd_decode(&hd, buf_begin(&s->in));
    if (hd.length > s->cfg.max_frame_size) { /* §4.2 */
        pw_h2i_fail(s, PW_H2_FRAME_SIZE_ERROR, "frame exceeds MAX_FRAME_SIZE");
        return len;
    }
    if (have == PW_H2_FRAME_HEADER_BYTES + hd.length) {
        on_frame(s, &hd, buf_begin(&s->in) + PW_H2_FRAME_HEADER_BYTES);
        buf_consume(&s->in, have);
        buf_shrink(&s->in, 0); /* an idle connection holds no input buffer */
    }
    return take;
}

ssize_t pw_h2_session_recv(pw_h2_session *s, const uint8_t *in, size_t len, uint64_t now_ns)
{
    assert(s->cb_depth == 0);
    if (s->in_state == PW_H2_IN_FAILED) return pw_h2i_neg(s->error_code);
    s->now_ns = now_ns;
    size_t off = 0;
    while (off < len && s->in_state != PW_H2_IN_FAILED) {
        if (s->in_state == PW_H2_IN_PREFACE) {
            ssize_t n = eat_preface(s, in + off, len - off);
            if (n < 0) break;
            off += (size_t)n;
            continue;
        }
        if (buf_size(&s->in) > 0 || len - off < PW_H2_FRAME_HEADER_BYTES) {
            off += feed_partial(s, in + off, len - off);
            continue;
        }
        /* Whole frames straight from the caller's bytes, without copying. */
        pw_h2_frame_hd hd;
        pw_h2_frame_hd_decode(&hd, in + off);
        if (hd.length > s->cfg.max_frame_size) { /* §4.2 */
            pw_h2i_fail(s, PW_H2_FRAME_SIZE_ERROR, "frame exceeds MAX_FRAME_SIZE");
            break;
        }
        if (len - off - PW_H2_FRAME_HEADER_BYTES < hd.length) {
            off += feed_partial(s, in + off, len - off);
            continue;
        }
        on_frame(s, &hd, in + off + PW_H2_FRAME_HEADER_BYTES);
        off += PW_H2_FRAME_HEADER_BYTES + hd.length;
    }
    pw_h2i_pump(s);
    pw_h2i_run_events(s);
    pw_h2i_idle_trim(s);
    if (s->in_state == PW_H2_IN_FAILED) {
        buf_deinit(&s->in);
        pw_h2i_hblock_reset(s);
        return pw_h2i_neg(s->error_code);
    }
    return (ssize_t)len;
}

bool pw_h2_session_want_write(const pw_h2_session *s)
{
    return pw_h2i_out_size(s) > 0 || s->data_deferred;
}

bool pw_h2_session_want_close(const pw_h2_session *s)
{
    if (s->in_state == PW_H2_IN_FAILED) return true;
    if (s->goaway_sent && s->goaway_sent_code != PW_H2_NO_ERROR) return true;
    return (s->goaway_sent || s->goaway_recvd) && s->tab_count == 0;
}

void pw_h2_session_stats(const pw_h2_session *s, pw_h2_stats *out)
{
    memset(out, 0, sizeof *out);
    out->open_streams = s->n_peer_live + s->n_local_live;
    out->output_bytes = pw_h2i_out_size(s);
    out->data_ref_bytes = s->data_ref_bytes;
    out->data_copied_bytes = s->data_copied_bytes;
    out->hblocks_cached = s->hcache_hits;
    out->hlists_const = s->hcache_const_hits;
    out->hblocks_decoded_cached = s->dcache_hits;
    for (size_t k = 0; k < PW_H2_HCACHE_SLOTS; k++)
        if (s->hcache[k].list) out->allocated_bytes += s->hcache[k].list->alloc_bytes;
    out->allocated_bytes = s->in.len + s->hblock.len + s->hbytes.len + s->hfields.len + s->out.len +
                           s->tab_cap * sizeof(pw_h2_stream *);
    for (size_t k = 0; k < PW_H2_DCACHE_SLOTS; k++)
        if (s->dcache[k]) out->allocated_bytes += sizeof *s->dcache[k];
    for (uint32_t i = 0; i < s->tab_cap; i++) {
        const pw_h2_stream *st = s->tab[i];
        if (!st) continue;
        out->pending_bytes += pw_h2i_stream_pending(st);
        out->allocated_bytes += sizeof *st + st->pending.len;
    }
    out->last_peer_stream_id = s->last_peer_id;
    out->frames_in = s->frames_in;
    out->frames_out = s->frames_out;
    out->peer_resets = s->peer_resets;
    out->local_resets = s->local_resets;
}

uint32_t pw_h2_session_open_streams(const pw_h2_session *s)
{
    return s->n_peer_live + s->n_local_live;
}

size_t pw_h2_session_queued_bytes(const pw_h2_session *s)
{
    size_t n = pw_h2i_out_size(s);
    for (uint32_t i = 0; i < s->tab_cap; i++)
        if (s->tab[i]) n += pw_h2i_stream_pending(s->tab[i]);
    return n;
}

bool pw_h2_session_settings_pending(const pw_h2_session *s) { return s->settings_ack_pending; }

uint32_t pw_h2_session_error(const pw_h2_session *s, const char **desc)
{
    if (desc) *desc = s->error_desc;
    return s->in_state == PW_H2_IN_FAILED ? s->error_code : 0;
}
