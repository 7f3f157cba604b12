/* proto_wire/pw_h2_frame: HTTP/2 frame codec, written from RFC 9113 §4.1 and §6. */
#include "proto_wire/pw_h2_frame.h"

#include <errno.h>
#include <string.h>

#include "proto_wire/pw_hpack.h"

/* The largest errno value (Linux). Each proto_wire range lies above it and apart from the
 * others, so one negative int names one fault whichever layer returned it. */
#define ERRNO_LAST EHWPOISON
_Static_assert(PW_H2_ERR_BASE > ERRNO_LAST, "pw_h2 errors overlap errno");
_Static_assert(PW_HPACK_ERR_BASE > ERRNO_LAST, "pw_hpack errors overlap errno");
_Static_assert(-PW_H2_ERR_MIN < PW_HPACK_ERR_BASE, "pw_h2 and pw_hpack ranges overlap");
_Static_assert(PW_H2_ERR_BASE > 1000 + 99, "pw_h2 and pw_pb (-1001 ..) ranges overlap");

/* RFC 9113 §3.4: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". */
const uint8_t pw_h2_preface[PW_H2_PREFACE_BYTES] = {
    'P', 'R', 'I',  ' ',  '*',  ' ',  'H', 'T', 'T',  'P',  '/',  '2',
    '.', '0', '\r', '\n', '\r', '\n', 'S', 'M', '\r', '\n', '\r', '\n',
};

const char *pw_h2_error_name(uint32_t code)
{
    static const char *const names[] = {
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "COMPRESSION_ERROR",
        "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY",
        "HTTP_1_1_REQUIRED",
    };
    return code < sizeof names / sizeof names[0] ? names[code] : "UNKNOWN";
}

int pw_h2_err_from_code(uint32_t code)
{
    return code <= PW_H2_HTTP_1_1_REQUIRED ? PW_H2_ERR_OF(code) : PW_H2_ERR_OTHER;
}

bool pw_h2_is_err(long err) { return err <= PW_H2_ERR_OF(0) && err >= PW_H2_ERR_MIN; }

uint32_t pw_h2_err_code(long err)
{
    if (err >= 0) return PW_H2_NO_ERROR;
    if (err <= PW_H2_ERR_OF(0) && err >= PW_H2_ERR_OF(PW_H2_HTTP_1_1_REQUIRED))
        return (uint32_t)(-err - PW_H2_ERR_BASE);
    if (err == PW_HPACK_ERR_COMPRESSION || err == PW_HPACK_ERR_HUFFMAN)
        return PW_H2_COMPRESSION_ERROR;
    return PW_H2_INTERNAL_ERROR; /* PW_H2_ERR_OTHER, -ENOMEM, -ENOBUFS, ... */
}

const char *pw_h2_strerror(long err)
{
    if (err <= PW_H2_ERR_OF(0) && err >= PW_H2_ERR_OF(PW_H2_HTTP_1_1_REQUIRED))
        return pw_h2_error_name(pw_h2_err_code(err));
    if (err == PW_H2_ERR_OTHER) return "error code outside RFC 9113";
    if (err <= -PW_HPACK_ERR_BASE && err > -PW_HPACK_ERR_BASE - 100)
        return pw_hpack_strerror((int)err);
    if (err < 0 && -err <= ERRNO_LAST) {
        const char *n = strerrorname_np((int)-err);
        if (n) return n;
    }
    return "unknown";
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void pw_h2_frame_hd_decode(pw_h2_frame_hd *hd, const uint8_t src[PW_H2_FRAME_HEADER_BYTES])
{
    hd->length = (uint32_t)src[0] << 16 | (uint32_t)src[1] << 8 | src[2];
    hd->type = src[3];
    hd->flags = src[4];
    hd->stream_id = get32(src + 5) & PW_H2_STREAM_ID_MAX; /* §4.1: R bit ignored on receipt */
}

void pw_h2_frame_hd_encode(uint8_t dst[PW_H2_FRAME_HEADER_BYTES], const pw_h2_frame_hd *hd)
{
    dst[0] = (uint8_t)(hd->length >> 16);
    dst[1] = (uint8_t)(hd->length >> 8);
    dst[2] = (uint8_t)hd->length;
    dst[3] = hd->type;
    dst[4] = hd->flags;
    put32(dst + 5, hd->stream_id & PW_H2_STREAM_ID_MAX); /* §4.1: R bit sent as 0 */
}

#define FAIL(code, desc)                  \
    do {                                  \
        if (err_desc) *err_desc = (desc); \
        return PW_H2_ERR_OF(code);        \
    } while (0)

static void decode_priority(pw_h2_priority *pri, const uint8_t *p)
{
    uint32_t v = get32(p);
    pri->exclusive = (v >> 31) != 0;
    pri->dependency = v & PW_H2_STREAM_ID_MAX;
    pri->weight = p[4];
}

/* Strips the Pad Length octet and the padding (§6.1, §6.2, §6.6). `*off` is the start of the
 * fields after Pad Length, `*end` the end of the non-padding part. `fixed` is the length of
 * the fields that precede the fragment (priority, promised id). */
static int strip_padding(const pw_h2_frame_hd *hd, const uint8_t *payload, size_t fixed,
                         size_t *off, size_t *end, size_t *pad, const char **err_desc)
{
    size_t len = hd->length, o = 0, p = 0;
    if (hd->flags & PW_H2_FLAG_PADDED) {
        if (len < 1) FAIL(PW_H2_FRAME_SIZE_ERROR, "padded frame without pad length");
        p = payload[0];
        o = 1;
    }
    if (len - o < fixed) FAIL(PW_H2_FRAME_SIZE_ERROR, "frame too short for its fields");
    /* §6.1: padding as long as the payload or longer is a PROTOCOL_ERROR. */
    if (p > len - o - fixed) FAIL(PW_H2_PROTOCOL_ERROR, "padding exceeds payload");
    *off = o;
    *end = len - p;
    *pad = p;
    return 0;
}

static int decode_settings(pw_h2_frame *f, const uint8_t *payload, const char **err_desc)
{
    const pw_h2_frame_hd *hd = &f->hd;
    if (hd->stream_id != 0) FAIL(PW_H2_PROTOCOL_ERROR, "SETTINGS on a stream"); /* §6.5 */
    if (hd->flags & PW_H2_FLAG_ACK) {
        if (hd->length != 0) FAIL(PW_H2_FRAME_SIZE_ERROR, "SETTINGS ACK with payload");
    } else if (hd->length % PW_H2_SETTING_ENTRY_BYTES != 0) {
        FAIL(PW_H2_FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6");
    }
    f->u.settings.entries = payload;
    f->u.settings.count = hd->length / PW_H2_SETTING_ENTRY_BYTES;
    /* §6.5.2: values the frame alone shows to be invalid. */
    for (size_t i = 0; i < f->u.settings.count; i++) {
        pw_h2_setting st = pw_h2_settings_get(f, i);
        switch (st.id) {
        case PW_H2_SETTINGS_ENABLE_PUSH:
            if (st.value > 1) FAIL(PW_H2_PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH > 1");
            break;
        case PW_H2_SETTINGS_INITIAL_WINDOW_SIZE:
            if (st.value > PW_H2_WINDOW_MAX_BYTES)
                FAIL(PW_H2_FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE > 2^31-1");
            break;
        case PW_H2_SETTINGS_MAX_FRAME_SIZE:
            if (st.value < PW_H2_FRAME_SIZE_MIN_BYTES || st.value > PW_H2_FRAME_SIZE_MAX_BYTES)
                FAIL(PW_H2_PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range");
            break;
        default: /* §6.5.2: unknown settings MUST be ignored */ break;
        }
    }
    return 0;
}

int pw_h2_frame_payload_decode(pw_h2_frame *f, const pw_h2_frame_hd *hd, const uint8_t *payload,
                               const char **err_desc)
{
    memset(f, 0, sizeof *f);
    f->hd = *hd;
    size_t len = hd->length, off = 0, end = 0, pad = 0;
    int rc;
    switch (hd->type) {
    case PW_H2_FT_DATA: /* §6.1 */
        if (hd->stream_id == 0) FAIL(PW_H2_PROTOCOL_ERROR, "DATA on stream 0");
        if ((rc = strip_padding(hd, payload, 0, &off, &end, &pad, err_desc)) < 0) return rc;
        f->u.data.data = payload + off;
        f->u.data.len = end - off;
        f->u.data.pad_len = pad;
        return 0;
    case PW_H2_FT_HEADERS: { /* §6.2 */
        if (hd->stream_id == 0) FAIL(PW_H2_PROTOCOL_ERROR, "HEADERS on stream 0");
        size_t fixed = (hd->flags & PW_H2_FLAG_PRIORITY) ? 5 : 0;
        if ((rc = strip_padding(hd, payload, fixed, &off, &end, &pad, err_desc)) < 0) return rc;
        if (fixed) {
            f->u.headers.has_priority = true;
            decode_priority(&f->u.headers.pri, payload + off);
            /* §5.3.1: a stream cannot depend on itself: stream error PROTOCOL_ERROR. */
            if (f->u.headers.pri.dependency == hd->stream_id)
                f->stream_error = PW_H2_PROTOCOL_ERROR;
        }
        f->u.headers.block = payload + off + fixed;
        f->u.headers.block_len = end - off - fixed;
        f->u.headers.pad_len = pad;
        return 0;
    }
    case PW_H2_FT_PRIORITY: /* §6.3 */
        if (hd->stream_id == 0) FAIL(PW_H2_PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (len != 5) {
            f->stream_error = PW_H2_FRAME_SIZE_ERROR; /* §6.3: a stream error */
            return 0;
        }
        decode_priority(&f->u.priority, payload);
        if (f->u.priority.dependency == hd->stream_id) f->stream_error = PW_H2_PROTOCOL_ERROR;
        return 0;
    case PW_H2_FT_RST_STREAM: /* §6.4 */
        if (hd->stream_id == 0) FAIL(PW_H2_PROTOCOL_ERROR, "RST_STREAM on stream 0");
        if (len != 4) FAIL(PW_H2_FRAME_SIZE_ERROR, "RST_STREAM length != 4");
        f->u.rst_stream.error_code = get32(payload);
        return 0;
    case PW_H2_FT_SETTINGS: return decode_settings(f, payload, err_desc);
    case PW_H2_FT_PUSH_PROMISE: /* §6.6 */
        if (hd->stream_id == 0) FAIL(PW_H2_PROTOCOL_ERROR, "PUSH_PROMISE on stream 0");
        if ((rc = strip_padding(hd, payload, 4, &off, &end, &pad, err_desc)) < 0) return rc;
        f->u.push_promise.promised_id = get32(payload + off) & PW_H2_STREAM_ID_MAX;
        f->u.push_promise.block = payload + off + 4;
        f->u.push_promise.block_len = end - off - 4;
        f->u.push_promise.pad_len = pad;
        return 0;
    case PW_H2_FT_PING: /* §6.7 */
        if (hd->stream_id != 0) FAIL(PW_H2_PROTOCOL_ERROR, "PING on a stream");
        if (len != PW_H2_PING_PAYLOAD_BYTES) FAIL(PW_H2_FRAME_SIZE_ERROR, "PING length != 8");
        memcpy(f->u.ping.opaque, payload, PW_H2_PING_PAYLOAD_BYTES);
        return 0;
    case PW_H2_FT_GOAWAY: /* §6.8 */
        if (hd->stream_id != 0) FAIL(PW_H2_PROTOCOL_ERROR, "GOAWAY on a stream");
        if (len < 8) FAIL(PW_H2_FRAME_SIZE_ERROR, "GOAWAY shorter than 8");
        f->u.goaway.last_stream_id = get32(payload) & PW_H2_STREAM_ID_MAX;
        f->u.goaway.error_code = get32(payload + 4);
        f->u.goaway.debug = payload + 8;
        f->u.goaway.debug_len = len - 8;
        return 0;
    case PW_H2_FT_WINDOW_UPDATE: /* §6.9 */
        if (len != 4) FAIL(PW_H2_FRAME_SIZE_ERROR, "WINDOW_UPDATE length != 4");
        f->u.window_update.increment = get32(payload) & PW_H2_WINDOW_MAX_BYTES;
        if (f->u.window_update.increment == 0) {
            if (hd->stream_id == 0) FAIL(PW_H2_PROTOCOL_ERROR, "WINDOW_UPDATE increment 0");
            f->stream_error = PW_H2_PROTOCOL_ERROR;
        }
        return 0;
    case PW_H2_FT_CONTINUATION: /* §6.10 */
        if (hd->stream_id == 0) FAIL(PW_H2_PROTOCOL_ERROR, "CONTINUATION on stream 0");
        f->u.continuation.block = payload;
        f->u.continuation.block_len = len;
        return 0;
    default: /* §4.1, §5.5: unknown types are ignored */
        f->u.unknown.payload = payload;
        f->u.unknown.len = len;
        return 0;
    }
}

ssize_t pw_h2_frame_decode(pw_h2_frame *f, const uint8_t *src, size_t len, uint32_t max_frame_size,
                           const char **err_desc)
{
    if (len < PW_H2_FRAME_HEADER_BYTES) return 0;
    pw_h2_frame_hd hd;
    pw_h2_frame_hd_decode(&hd, src);
    /* §4.2: a frame above our SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR. */
    if (hd.length > max_frame_size) FAIL(PW_H2_FRAME_SIZE_ERROR, "frame exceeds MAX_FRAME_SIZE");
    if (len - PW_H2_FRAME_HEADER_BYTES < hd.length) return 0;
    int rc = pw_h2_frame_payload_decode(f, &hd, src + PW_H2_FRAME_HEADER_BYTES, err_desc);
    if (rc < 0) return rc;
    return (ssize_t)(PW_H2_FRAME_HEADER_BYTES + hd.length);
}

pw_h2_setting pw_h2_settings_get(const pw_h2_frame *f, size_t i)
{
    const uint8_t *p = f->u.settings.entries + i * PW_H2_SETTING_ENTRY_BYTES;
    pw_h2_setting s = {(uint16_t)(p[0] << 8 | p[1]), get32(p + 2)};
    return s;
}

/* ---- writers ---- */

#define LENGTH_MAX 0xffffffu /* §4.1: 24-bit length */

/* Reserves a whole frame (header + payload) and writes the header: all or nothing. */
static uint8_t *frame_begin(buf *out, size_t length, uint8_t type, uint8_t flags,
                            uint32_t stream_id, int *rc)
{
    if (length > LENGTH_MAX || stream_id > PW_H2_STREAM_ID_MAX) {
        *rc = -EINVAL;
        return NULL;
    }
    uint8_t *p;
    *rc = buf_reserve(out, PW_H2_FRAME_HEADER_BYTES + length, &p);
    if (*rc < 0) return NULL;
    pw_h2_frame_hd hd = {(uint32_t)length, type, flags, stream_id};
    pw_h2_frame_hd_encode(p, &hd);
    *rc = 0;
    return p + PW_H2_FRAME_HEADER_BYTES;
}

int pw_h2_write_hd(buf *out, uint32_t length, uint8_t type, uint8_t flags, uint32_t stream_id)
{
    if (length > LENGTH_MAX || stream_id > PW_H2_STREAM_ID_MAX) return -EINVAL;
    uint8_t hdr[PW_H2_FRAME_HEADER_BYTES];
    pw_h2_frame_hd hd = {length, type, flags, stream_id};
    pw_h2_frame_hd_encode(hdr, &hd);
    return buf_append(out, hdr, sizeof hdr);
}

/* A frame with [pad length] [fixed fields] fragment [padding]. */
static int write_padded(buf *out, uint8_t type, uint32_t stream_id, uint8_t flags,
                        const uint8_t *fixed, size_t fixed_len, const uint8_t *p, size_t n,
                        int pad_len)
{
    if (pad_len > 255) return -EINVAL;
    size_t padded = pad_len >= 0 ? 1 + (size_t)pad_len : 0;
    if (pad_len >= 0) flags |= PW_H2_FLAG_PADDED;
    else flags &= (uint8_t)~PW_H2_FLAG_PADDED;
    int rc;
    uint8_t *w = frame_begin(out, padded + fixed_len + n, type, flags, stream_id, &rc);
    if (!w) return rc;
    if (pad_len >= 0) *w++ = (uint8_t)pad_len;
    if (fixed_len) memcpy(w, fixed, fixed_len);
    w += fixed_len;
    if (n) memcpy(w, p, n);
    w += n;
    if (pad_len > 0) memset(w, 0, (size_t)pad_len);
    buf_commit(out, PW_H2_FRAME_HEADER_BYTES + padded + fixed_len + n);
    return 0;
}

int pw_h2_write_data(buf *out, uint32_t stream_id, uint8_t flags, const uint8_t *p, size_t n,
                     int pad_len)
{
    return write_padded(out, PW_H2_FT_DATA, stream_id, flags, NULL, 0, p, n, pad_len);
}

static void encode_priority(uint8_t dst[5], const pw_h2_priority *pri)
{
    put32(dst, (pri->dependency & PW_H2_STREAM_ID_MAX) | (pri->exclusive ? 0x80000000u : 0));
    dst[4] = pri->weight;
}

int pw_h2_write_headers(buf *out, uint32_t stream_id, uint8_t flags, const pw_h2_priority *pri,
                        const uint8_t *block, size_t n, int pad_len)
{
    uint8_t fixed[5];
    if (pri) {
        encode_priority(fixed, pri);
        flags |= PW_H2_FLAG_PRIORITY;
    } else {
        flags &= (uint8_t)~PW_H2_FLAG_PRIORITY;
    }
    return write_padded(out, PW_H2_FT_HEADERS, stream_id, flags, fixed, pri ? 5 : 0, block, n,
                        pad_len);
}

int pw_h2_write_priority(buf *out, uint32_t stream_id, const pw_h2_priority *pri)
{
    int rc;
    uint8_t *w = frame_begin(out, 5, PW_H2_FT_PRIORITY, 0, stream_id, &rc);
    if (!w) return rc;
    encode_priority(w, pri);
    buf_commit(out, PW_H2_FRAME_HEADER_BYTES + 5);
    return 0;
}

int pw_h2_write_rst_stream(buf *out, uint32_t stream_id, uint32_t error_code)
{
    int rc;
    uint8_t *w = frame_begin(out, 4, PW_H2_FT_RST_STREAM, 0, stream_id, &rc);
    if (!w) return rc;
    put32(w, error_code);
    buf_commit(out, PW_H2_FRAME_HEADER_BYTES + 4);
    return 0;
}

int pw_h2_write_settings(buf *out, const pw_h2_setting *s, size_t n)
{
    if (n > LENGTH_MAX / PW_H2_SETTING_ENTRY_BYTES) return -EINVAL;
    int rc;
    uint8_t *w = frame_begin(out, n * PW_H2_SETTING_ENTRY_BYTES, PW_H2_FT_SETTINGS, 0, 0, &rc);
    if (!w) return rc;
    for (size_t i = 0; i < n; i++, w += PW_H2_SETTING_ENTRY_BYTES) {
        w[0] = (uint8_t)(s[i].id >> 8);
        w[1] = (uint8_t)s[i].id;
        put32(w + 2, s[i].value);
    }
    buf_commit(out, PW_H2_FRAME_HEADER_BYTES + n * PW_H2_SETTING_ENTRY_BYTES);
    return 0;
}

int pw_h2_write_settings_ack(buf *out)
{
    return pw_h2_write_hd(out, 0, PW_H2_FT_SETTINGS, PW_H2_FLAG_ACK, 0);
}

int pw_h2_write_push_promise(buf *out, uint32_t stream_id, uint8_t flags, uint32_t promised_id,
                             const uint8_t *block, size_t n, int pad_len)
{
    uint8_t fixed[4];
    put32(fixed, promised_id & PW_H2_STREAM_ID_MAX);
    return write_padded(out, PW_H2_FT_PUSH_PROMISE, stream_id, flags, fixed, 4, block, n, pad_len);
}

int pw_h2_write_ping(buf *out, bool ack, const uint8_t opaque[PW_H2_PING_PAYLOAD_BYTES])
{
    int rc;
    uint8_t *w = frame_begin(out, PW_H2_PING_PAYLOAD_BYTES, PW_H2_FT_PING, ack ? PW_H2_FLAG_ACK : 0,
                             0, &rc);
    if (!w) return rc;
    memcpy(w, opaque, PW_H2_PING_PAYLOAD_BYTES);
    buf_commit(out, PW_H2_FRAME_HEADER_BYTES + PW_H2_PING_PAYLOAD_BYTES);
    return 0;
}

int pw_h2_write_goaway(buf *out, uint32_t last_stream_id, uint32_t error_code, const uint8_t *debug,
                       size_t debug_len)
{
    if (debug_len > LENGTH_MAX - 8) return -EINVAL;
    int rc;
    uint8_t *w = frame_begin(out, 8 + debug_len, PW_H2_FT_GOAWAY, 0, 0, &rc);
    if (!w) return rc;
    put32(w, last_stream_id & PW_H2_STREAM_ID_MAX);
    put32(w + 4, error_code);
    if (debug_len) memcpy(w + 8, debug, debug_len);
    buf_commit(out, PW_H2_FRAME_HEADER_BYTES + 8 + debug_len);
    return 0;
}

int pw_h2_write_window_update(buf *out, uint32_t stream_id, uint32_t increment)
{
    int rc;
    uint8_t *w = frame_begin(out, 4, PW_H2_FT_WINDOW_UPDATE, 0, stream_id, &rc);
    if (!w) return rc;
    put32(w, increment & PW_H2_WINDOW_MAX_BYTES);
    buf_commit(out, PW_H2_FRAME_HEADER_BYTES + 4);
    return 0;
}

int pw_h2_write_continuation(buf *out, uint32_t stream_id, uint8_t flags, const uint8_t *block,
                             size_t n)
{
    int rc;
    uint8_t *w = frame_begin(out, n, PW_H2_FT_CONTINUATION, flags, stream_id, &rc);
    if (!w) return rc;
    if (n) memcpy(w, block, n);
    buf_commit(out, PW_H2_FRAME_HEADER_BYTES + n);
    return 0;
}
