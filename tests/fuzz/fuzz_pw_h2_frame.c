/* Fuzz target for proto_wire/pw_h2_frame.c: arbitrary bytes as a sequence of frames.
 *  - pw_h2_frame_decode never reads outside the input, consumes exactly 9 + length, and only
 *    returns the documented error codes;
 *  - every view it returns lies inside the frame;
 *  - a decoded frame written back with the writers decodes to the same fields (round trip).
 * Byte 0 picks our MAX_FRAME_SIZE. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_h2_frame.h"

#define CHECK(c) ((c) ? (void)0 : __builtin_trap())

static const uint32_t max_choices[4] = {16384, 16385, 65536, 16777215};

static void check_view(const uint8_t *v, size_t n, const uint8_t *lo, const uint8_t *hi)
{
    if (n == 0) return;
    CHECK(v >= lo && v + n <= hi);
}

static int rewrite(buf *b, const pw_h2_frame *f)
{
    const pw_h2_frame_hd *hd = &f->hd;
    uint8_t fl = hd->flags;
    switch (hd->type) {
    case PW_H2_FT_DATA:
        return pw_h2_write_data(b, hd->stream_id, fl, f->u.data.data, f->u.data.len,
                                (fl & PW_H2_FLAG_PADDED) ? (int)f->u.data.pad_len : -1);
    case PW_H2_FT_HEADERS:
        return pw_h2_write_headers(b, hd->stream_id, fl,
                                   f->u.headers.has_priority ? &f->u.headers.pri : NULL,
                                   f->u.headers.block, f->u.headers.block_len,
                                   (fl & PW_H2_FLAG_PADDED) ? (int)f->u.headers.pad_len : -1);
    case PW_H2_FT_PRIORITY:
        return hd->length == 5 ? pw_h2_write_priority(b, hd->stream_id, &f->u.priority) : 1;
    case PW_H2_FT_RST_STREAM:
        return pw_h2_write_rst_stream(b, hd->stream_id, f->u.rst_stream.error_code);
    case PW_H2_FT_SETTINGS: {
        if (fl & PW_H2_FLAG_ACK) return pw_h2_write_settings_ack(b);
        pw_h2_setting st[64];
        size_t n = f->u.settings.count < 64 ? f->u.settings.count : 64;
        for (size_t i = 0; i < n; i++) st[i] = pw_h2_settings_get(f, i);
        return n == f->u.settings.count ? pw_h2_write_settings(b, st, n) : 1;
    }
    case PW_H2_FT_PUSH_PROMISE:
        return pw_h2_write_push_promise(b, hd->stream_id, fl, f->u.push_promise.promised_id,
                                        f->u.push_promise.block, f->u.push_promise.block_len,
                                        (fl & PW_H2_FLAG_PADDED) ? (int)f->u.push_promise.pad_len
                                                                 : -1);
    case PW_H2_FT_PING: return pw_h2_write_ping(b, (fl & PW_H2_FLAG_ACK) != 0, f->u.ping.opaque);
    case PW_H2_FT_GOAWAY:
        return pw_h2_write_goaway(b, f->u.goaway.last_stream_id, f->u.goaway.error_code,
                                  f->u.goaway.debug, f->u.goaway.debug_len);
    case PW_H2_FT_WINDOW_UPDATE:
        return pw_h2_write_window_update(b, hd->stream_id, f->u.window_update.increment);
    case PW_H2_FT_CONTINUATION:
        return pw_h2_write_continuation(b, hd->stream_id, fl, f->u.continuation.block,
                                        f->u.continuation.block_len);
    default: return 1;
    }
}

static void round_trip(const pw_h2_frame *f)
{
    buf b;
    buf_init(&b, 1u << 25);
    int rc = rewrite(&b, f);
    if (rc == 0) {
        pw_h2_frame g;
        ssize_t n = pw_h2_frame_decode(&g, buf_begin(&b), buf_size(&b), 16777215, NULL);
        CHECK(n == (ssize_t)buf_size(&b));
        CHECK(g.hd.type == f->hd.type && g.hd.stream_id == f->hd.stream_id);
        CHECK(g.stream_error == f->stream_error);
        switch (f->hd.type) {
        case PW_H2_FT_DATA:
            CHECK(g.u.data.len == f->u.data.len && g.u.data.pad_len == f->u.data.pad_len);
            CHECK(g.u.data.len == 0 || memcmp(g.u.data.data, f->u.data.data, g.u.data.len) == 0);
            break;
        case PW_H2_FT_HEADERS:
            CHECK(g.u.headers.block_len == f->u.headers.block_len);
            CHECK(g.u.headers.has_priority == f->u.headers.has_priority);
            CHECK(g.u.headers.pri.dependency == f->u.headers.pri.dependency);
            CHECK(g.u.headers.block_len == 0 ||
                  memcmp(g.u.headers.block, f->u.headers.block, g.u.headers.block_len) == 0);
            break;
        case PW_H2_FT_GOAWAY:
            CHECK(g.u.goaway.last_stream_id == f->u.goaway.last_stream_id);
            CHECK(g.u.goaway.error_code == f->u.goaway.error_code);
            CHECK(g.u.goaway.debug_len == f->u.goaway.debug_len);
            break;
        case PW_H2_FT_WINDOW_UPDATE:
            CHECK(g.u.window_update.increment == f->u.window_update.increment);
            break;
        case PW_H2_FT_SETTINGS: CHECK(g.u.settings.count == f->u.settings.count); break;
        case PW_H2_FT_PING: CHECK(memcmp(g.u.ping.opaque, f->u.ping.opaque, 8) == 0); break;
        default: break;
        }
    } else {
        CHECK(rc == 1 || rc == -EINVAL);
    }
    buf_deinit(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint32_t max = max_choices[data[0] & 3];
    size_t off = 1;
    while (off < size) {
        pw_h2_frame f;
        const char *desc = NULL;
        ssize_t n = pw_h2_frame_decode(&f, data + off, size - off, max, &desc);
        if (n == 0) break; /* incomplete */
        if (n < 0) {
            CHECK(n == PW_H2_ERR_FRAME_SIZE || n == PW_H2_ERR_PROTOCOL ||
                  n == PW_H2_ERR_FLOW_CONTROL);
            CHECK(desc != NULL);
            /* Skip the frame and go on, as if the error were a stream error. */
            pw_h2_frame_hd hd;
            if (size - off < 9) break;
            pw_h2_frame_hd_decode(&hd, data + off);
            if (hd.length > size - off - 9) break;
            off += 9 + hd.length;
            continue;
        }
        CHECK((size_t)n == 9 + f.hd.length && (size_t)n <= size - off);
        CHECK(f.hd.length <= max && f.hd.stream_id <= PW_H2_STREAM_ID_MAX);
        const uint8_t *lo = data + off + 9, *hi = data + off + (size_t)n;
        switch (f.hd.type) {
        case PW_H2_FT_DATA: check_view(f.u.data.data, f.u.data.len, lo, hi); break;
        case PW_H2_FT_HEADERS: check_view(f.u.headers.block, f.u.headers.block_len, lo, hi); break;
        case PW_H2_FT_PUSH_PROMISE:
            check_view(f.u.push_promise.block, f.u.push_promise.block_len, lo, hi);
            break;
        case PW_H2_FT_GOAWAY: check_view(f.u.goaway.debug, f.u.goaway.debug_len, lo, hi); break;
        case PW_H2_FT_CONTINUATION:
            check_view(f.u.continuation.block, f.u.continuation.block_len, lo, hi);
            break;
        case PW_H2_FT_SETTINGS:
            check_view(f.u.settings.entries, f.u.settings.count * 6, lo, hi);
            break;
        default: break;
        }
        if (f.hd.type < PW_H2_FT_COUNT) round_trip(&f);
        off += (size_t)n;
    }
    return 0;
}
