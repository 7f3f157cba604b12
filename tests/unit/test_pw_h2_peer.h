/* A scripted HTTP/2 peer for the pw_h2 session tests (header only, static functions).
 *
 * The peer writes frames by hand (tp_frame_raw) or with the frame writers, encodes header
 * blocks with its own HPACK encoder, feeds them to the session under test (S) and parses what
 * the session outputs back into frames (tp_out), decoding header blocks with its own HPACK
 * decoder. Callbacks are recorded as events (tp_evs); hooks let a test act inside callbacks. */
#ifndef TEST_PW_H2_PEER_H
#define TEST_PW_H2_PEER_H

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_h2.h"

typedef struct tp_frame {
    pw_h2_frame_hd hd;
    const uint8_t *p;
} tp_frame;

typedef struct tp_ev {
    char kind; /* B begin, H headers, D data, C close, W writable, G goaway, P ping ack */
    uint32_t sid;
    unsigned flags;
    uint32_t code;
    size_t n;
    char text[1024];
} tp_ev;

#define TP_OUT_MAX 65536
#define TP_OUTBYTES (16u << 20)
#define TP_EV_MAX 16384

static pw_h2_session *S;
static uint64_t tp_now = 1000000000ull;
static pw_hpack_enc tp_enc;
static pw_hpack_dec tp_dec;
static buf tp_in;
static tp_frame tp_out[TP_OUT_MAX];
static size_t tp_nout;
static uint8_t *tp_outbytes;
static size_t tp_outpos;
static size_t tp_skip_preface; /* bytes of client preface to skip in the output (client role) */
static tp_ev tp_evs[TP_EV_MAX];
static size_t tp_nev;
static size_t tp_data_bytes[8192]; /* by stream id */
static unsigned tp_closes[8192];   /* on_stream_close count by stream id */
static int (*tp_hook_headers)(uint32_t sid, unsigned flags);
static int (*tp_hook_data)(uint32_t sid, size_t n, bool es);
static void (*tp_hook_writable)(uint32_t sid);
static void (*tp_hook_close)(uint32_t sid, uint32_t code);

static inline tp_ev *tp_push(char kind, uint32_t sid)
{
    ck_assert_uint_lt(tp_nev, TP_EV_MAX);
    tp_ev *e = &tp_evs[tp_nev++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->sid = sid;
    return e;
}

static inline int tp_on_begin(void *ud, uint32_t sid)
{
    (void)ud;
    tp_push('B', sid);
    return 0;
}

static inline int tp_on_headers(void *ud, uint32_t sid, const pw_h2_header *h, size_t n,
                                unsigned flags)
{
    (void)ud;
    tp_ev *e = tp_push('H', sid);
    e->flags = flags;
    e->n = n;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int k = snprintf(e->text + w, sizeof e->text - w, "%.*s: %.*s\n", (int)h[i].name_len,
                         h[i].name, (int)h[i].value_len, h[i].value);
        if (k < 0 || (size_t)k >= sizeof e->text - w) break;
        w += (size_t)k;
    }
    return tp_hook_headers ? tp_hook_headers(sid, flags) : 0;
}

static inline int tp_on_data(void *ud, uint32_t sid, const uint8_t *p, size_t n, bool es)
{
    (void)ud;
    tp_ev *e = tp_push('D', sid);
    e->n = n;
    e->flags = es;
    memcpy(e->text, p, n < sizeof e->text - 1 ? n : sizeof e->text - 1);
    tp_data_bytes[sid % 8192] += n;
    return tp_hook_data ? tp_hook_data(sid, n, es) : 0;
}

static inline void tp_on_close(void *ud, uint32_t sid, uint32_t code)
{
    (void)ud;
    tp_push('C', sid)->code = code;
    tp_closes[sid % 8192]++;
    if (tp_hook_close) tp_hook_close(sid, code);
}

static inline void tp_on_writable(void *ud, uint32_t sid)
{
    (void)ud;
    tp_push('W', sid);
    if (tp_hook_writable) tp_hook_writable(sid);
}

static inline void tp_on_goaway(void *ud, uint32_t last, uint32_t code, const uint8_t *d, size_t n)
{
    (void)ud;
    tp_ev *e = tp_push('G', last);
    e->code = code;
    memcpy(e->text, d, n < sizeof e->text - 1 ? n : sizeof e->text - 1);
}

static inline void tp_on_ping_ack(void *ud, const uint8_t opaque[8])
{
    (void)ud;
    memcpy(tp_push('P', 0)->text, opaque, 8);
}

static const pw_h2_callbacks tp_cb = {
    .on_begin_stream = tp_on_begin,
    .on_headers = tp_on_headers,
    .on_data = tp_on_data,
    .on_stream_close = tp_on_close,
    .on_stream_writable = tp_on_writable,
    .on_goaway = tp_on_goaway,
    .on_ping_ack = tp_on_ping_ack,
};

/* ---- events ---- */

static inline size_t tp_count(char kind)
{
    size_t n = 0;
    for (size_t i = 0; i < tp_nev; i++) n += tp_evs[i].kind == kind;
    return n;
}

static inline tp_ev *tp_last(char kind)
{
    for (size_t i = tp_nev; i-- > 0;)
        if (tp_evs[i].kind == kind) return &tp_evs[i];
    return NULL;
}

/* ---- input ---- */

static inline ssize_t tp_flush(void)
{
    ssize_t r = pw_h2_session_recv(S, buf_begin(&tp_in), buf_size(&tp_in), tp_now);
    if (r >= 0) ck_assert_int_eq(r, (ssize_t)buf_size(&tp_in));
    buf_consume(&tp_in, buf_size(&tp_in));
    return r;
}

/* Lets PW_H2_IDLE_KEEP_MS pass and feeds an empty input: a session with no live stream lets
 * its kept memory go (table, cached streams, header lists). */
static inline void tp_idle_pass(void)
{
    tp_now += (uint64_t)PW_H2_IDLE_KEEP_MS * 1000000u;
    ck_assert_int_eq(tp_flush(), 0);
}

static inline void tp_frame_raw(uint32_t len, uint8_t type, uint8_t flags, uint32_t sid,
                                const void *p)
{
    ck_assert_int_eq(pw_h2_write_hd(&tp_in, len, type, flags, sid), 0);
    ck_assert_int_eq(buf_append(&tp_in, p, len), 0);
}

/* Encodes "name: value\n" lines with the peer's HPACK encoder into `out`. */
static inline void tp_encode(buf *out, const char *list)
{
    ck_assert_int_eq(pw_hpack_encode_begin(&tp_enc, out), 0);
    for (const char *p = list; *p;) {
        const char *nl = strchr(p, '\n'), *sep = strstr(p, ": ");
        ck_assert_ptr_nonnull(nl);
        ck_assert(sep && sep < nl);
        ck_assert_int_eq(pw_hpack_encode_field(&tp_enc, out, (const uint8_t *)p, (size_t)(sep - p),
                                               (const uint8_t *)sep + 2, (size_t)(nl - sep - 2), 0),
                         0);
        p = nl + 1;
    }
}

static inline void tp_headers(uint32_t sid, uint8_t flags, const char *list)
{
    buf b;
    buf_init(&b, 1 << 20);
    tp_encode(&b, list);
    ck_assert_int_eq(pw_h2_write_headers(&tp_in, sid, flags, NULL, buf_begin(&b), buf_size(&b), -1),
                     0);
    buf_deinit(&b);
}

#define TP_REQ                                                             \
    ":method: POST\n:scheme: http\n:path: /svc/M\n:authority: localhost\n" \
    "content-type: application/grpc\nte: trailers\n"

static inline void tp_request(uint32_t sid, bool es)
{
    tp_headers(sid, PW_H2_FLAG_END_HEADERS | (es ? PW_H2_FLAG_END_STREAM : 0), TP_REQ);
}

static inline void tp_data(uint32_t sid, const void *p, size_t n, bool es)
{
    ck_assert_int_eq(pw_h2_write_data(&tp_in, sid, es ? PW_H2_FLAG_END_STREAM : 0, p, n, -1), 0);
}

static inline void tp_settings(const pw_h2_setting *st, size_t n)
{
    ck_assert_int_eq(pw_h2_write_settings(&tp_in, st, n), 0);
}

static inline void tp_window_update(uint32_t sid, uint32_t inc)
{
    ck_assert_int_eq(pw_h2_write_window_update(&tp_in, sid, inc), 0);
}

/* ---- output ---- */

/* Takes all of the session's output and parses it into tp_out. */
static inline void tp_drain(void)
{
    const uint8_t *p;
    size_t n;
    for (;;) {
        pw_h2_session_output(S, &p, &n);
        if (n == 0) break;
        ck_assert_uint_le(tp_outpos + n, TP_OUTBYTES);
        memcpy(tp_outbytes + tp_outpos, p, n);
        pw_h2_session_output_consume(S, n);
        size_t off = tp_outpos;
        tp_outpos += n;
        if (tp_skip_preface) {
            ck_assert_uint_ge(n, tp_skip_preface);
            ck_assert_mem_eq(tp_outbytes + off, pw_h2_preface, tp_skip_preface);
            off += tp_skip_preface;
            tp_skip_preface = 0;
        }
        while (off < tp_outpos) {
            ck_assert_uint_ge(tp_outpos - off, 9);
            tp_frame *f = &tp_out[tp_nout++];
            ck_assert_uint_lt(tp_nout, TP_OUT_MAX);
            pw_h2_frame_hd_decode(&f->hd, tp_outbytes + off);
            f->p = tp_outbytes + off + 9;
            off += 9 + f->hd.length;
            ck_assert_uint_le(off, tp_outpos); /* whole frames only */
        }
    }
}

static inline void tp_out_reset(void)
{
    tp_nout = 0;
    tp_outpos = 0;
}

static inline tp_frame *tp_find(uint8_t type, uint32_t sid)
{
    for (size_t i = 0; i < tp_nout; i++)
        if (tp_out[i].hd.type == type && tp_out[i].hd.stream_id == sid) return &tp_out[i];
    return NULL;
}

static inline size_t tp_count_out(uint8_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < tp_nout; i++) n += tp_out[i].hd.type == type;
    return n;
}

static inline uint32_t tp_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Drains; the GOAWAY error code sent by the session, or UINT32_MAX if none. */
static inline uint32_t tp_goaway(void)
{
    tp_drain();
    tp_frame *f = NULL;
    for (size_t i = 0; i < tp_nout; i++)
        if (tp_out[i].hd.type == PW_H2_FT_GOAWAY) f = &tp_out[i];
    return f ? tp_get32(f->p + 4) : UINT32_MAX;
}

/* Drains; the RST_STREAM code sent for `sid`, or UINT32_MAX if none. */
static inline uint32_t tp_rst(uint32_t sid)
{
    tp_drain();
    tp_frame *f = tp_find(PW_H2_FT_RST_STREAM, sid);
    return f ? tp_get32(f->p) : UINT32_MAX;
}

static inline int tp_dec_emit(void *ud, const uint8_t *n, size_t nl, const uint8_t *v, size_t vl,
                              unsigned flags)
{
    (void)flags;
    char *t = ud;
    size_t w = strlen(t);
    snprintf(t + w, 4096 - w, "%.*s: %.*s\n", (int)nl, n, (int)vl, v);
    return 0;
}

/* Decodes the header block the session sent on `sid` starting at output frame `*idx` (HEADERS
 * then CONTINUATIONs) into text (4096 bytes), advancing *idx past it. Returns its flags. */
static inline uint8_t tp_block(uint32_t sid, size_t *idx, char text[4096])
{
    buf b;
    buf_init(&b, 1 << 20);
    uint8_t flags = 0;
    size_t i = *idx;
    while (i < tp_nout && !(tp_out[i].hd.type == PW_H2_FT_HEADERS && tp_out[i].hd.stream_id == sid))
        i++;
    ck_assert_uint_lt(i, tp_nout);
    flags = tp_out[i].hd.flags;
    for (;; i++) {
        ck_assert_uint_lt(i, tp_nout);
        ck_assert_uint_eq(tp_out[i].hd.stream_id, sid);
        ck_assert_int_eq(buf_append(&b, tp_out[i].p, tp_out[i].hd.length), 0);
        if (tp_out[i].hd.flags & PW_H2_FLAG_END_HEADERS) break;
        ck_assert_uint_eq(tp_out[i + 1].hd.type, PW_H2_FT_CONTINUATION); /* §6.10 */
    }
    *idx = i + 1;
    text[0] = 0;
    const char *err = NULL;
    ck_assert_int_eq(pw_hpack_decode_block(&tp_dec, buf_begin(&b), buf_size(&b), 1 << 20,
                                           tp_dec_emit, text, &err),
                     0);
    buf_deinit(&b);
    return flags;
}

/* ---- lifecycle ---- */

static inline void tp_reset_peer(void)
{
    tp_nev = 0;
    memset(tp_data_bytes, 0, sizeof tp_data_bytes);
    memset(tp_closes, 0, sizeof tp_closes);
    tp_hook_headers = NULL;
    tp_hook_data = NULL;
    tp_hook_writable = NULL;
    tp_hook_close = NULL;
    tp_out_reset();
    tp_skip_preface = 0;
    if (!tp_outbytes) tp_outbytes = malloc(TP_OUTBYTES);
    buf_init(&tp_in, 1 << 24);
    ck_assert_int_eq(pw_hpack_enc_init(&tp_enc, 4096), 0);
    ck_assert_int_eq(pw_hpack_dec_init(&tp_dec, 4096), 0);
}

/* A server session that has seen the client preface + SETTINGS, acked ours, and whose output
 * (SETTINGS, WINDOW_UPDATE, SETTINGS ACK) has been drained and forgotten. */
static inline void tp_start_server(const pw_h2_config *cfg)
{
    tp_reset_peer();
    S = pw_h2_session_create(PW_H2_ROLE_SERVER, cfg, &tp_cb, NULL);
    ck_assert_ptr_nonnull(S);
    ck_assert_int_eq(buf_append(&tp_in, pw_h2_preface, PW_H2_PREFACE_BYTES), 0);
    tp_settings(NULL, 0);
    ck_assert_int_eq(pw_h2_write_settings_ack(&tp_in), 0);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_ptr_nonnull(tp_find(PW_H2_FT_SETTINGS, 0));
    tp_out_reset();
}

static inline void tp_stop(void)
{
    pw_h2_session_destroy(S);
    S = NULL;
    for (size_t i = 0; i < 8192; i++) ck_assert_uint_le(tp_closes[i], 1); /* exactly once */
    buf_deinit(&tp_in);
    pw_hpack_enc_deinit(&tp_enc);
    pw_hpack_dec_deinit(&tp_dec);
}

#endif
