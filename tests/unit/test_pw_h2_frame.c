/* Unit tests for proto_wire/pw_h2_frame: the HTTP/2 frame codec (RFC 9113 §4.1, §6). */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "proto_wire/pw_h2_frame.h"
#include "proto_wire/pw_hpack.h"
#include "proto_wire/pw_pb.h"
#include "ts_main.h"

/* Builds a raw frame by hand (independent of the writers) into `dst`; returns its size. */
static size_t raw(uint8_t *dst, uint32_t len, uint8_t type, uint8_t flags, uint32_t sid,
                  const void *payload)
{
    dst[0] = (uint8_t)(len >> 16);
    dst[1] = (uint8_t)(len >> 8);
    dst[2] = (uint8_t)len;
    dst[3] = type;
    dst[4] = flags;
    dst[5] = (uint8_t)(sid >> 24);
    dst[6] = (uint8_t)(sid >> 16);
    dst[7] = (uint8_t)(sid >> 8);
    dst[8] = (uint8_t)sid;
    if (len) memcpy(dst + 9, payload, len);
    return 9 + len;
}

static uint8_t fb[70000];
static pw_h2_frame fr;
static const char *desc;

/* Decodes a hand-built frame; returns pw_h2_frame_decode's result. */
static ssize_t dec(uint32_t len, uint8_t type, uint8_t flags, uint32_t sid, const void *payload)
{
    size_t n = raw(fb, len, type, flags, sid, payload);
    desc = NULL;
    return pw_h2_frame_decode(&fr, fb, n, PW_H2_FRAME_SIZE_MIN_BYTES, &desc);
}

START_TEST(header_round_trip_and_reserved_bit)
{
    pw_h2_frame_hd hd = {0x123456, 0xfa, 0x5a, 0x7fffffff}, out;
    uint8_t b[9];
    pw_h2_frame_hd_encode(b, &hd);
    ck_assert_uint_eq(b[0], 0x12);
    ck_assert_uint_eq(b[2], 0x56);
    pw_h2_frame_hd_decode(&out, b);
    ck_assert_uint_eq(out.length, 0x123456);
    ck_assert_uint_eq(out.type, 0xfa);
    ck_assert_uint_eq(out.flags, 0x5a);
    ck_assert_uint_eq(out.stream_id, 0x7fffffff);
    b[5] |= 0x80; /* §4.1: the reserved bit is ignored on receipt */
    pw_h2_frame_hd_decode(&out, b);
    ck_assert_uint_eq(out.stream_id, 0x7fffffff);
    hd.stream_id = 0xffffffffu; /* ... and never sent */
    pw_h2_frame_hd_encode(b, &hd);
    ck_assert_uint_eq(b[5], 0x7f);
}
END_TEST

START_TEST(incomplete_and_too_large)
{
    uint8_t p[20] = {0};
    size_t n = raw(fb, 20, PW_H2_FT_DATA, 0, 1, p);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(pw_h2_frame_decode(&fr, fb, i, 16384, NULL), 0);
    ck_assert_int_eq(pw_h2_frame_decode(&fr, fb, n, 16384, NULL), (ssize_t)n);
    /* §4.2: above our MAX_FRAME_SIZE, known from the header alone. */
    static uint8_t big[16385];
    raw(fb, 16385, PW_H2_FT_DATA, 0, 1, big);
    ck_assert_int_eq(pw_h2_frame_decode(&fr, fb, 9, 16384, &desc), PW_H2_ERR_FRAME_SIZE);
    ck_assert_int_eq(pw_h2_frame_decode(&fr, fb, 9, 16385, &desc), 0);
}
END_TEST

/* Round trips through the writers for every frame type. */
static buf ob;
static void ob_setup(void) { buf_init(&ob, 1 << 20); }
static void ob_teardown(void) { buf_deinit(&ob); }

static void decode_ob(void)
{
    ssize_t n = pw_h2_frame_decode(&fr, buf_begin(&ob), buf_size(&ob), 1 << 20, &desc);
    ck_assert_int_eq(n, (ssize_t)buf_size(&ob));
}

START_TEST(rt_data_padded)
{
    ck_assert_int_eq(
        pw_h2_write_data(&ob, 3, PW_H2_FLAG_END_STREAM, (const uint8_t *)"hello", 5, 7), 0);
    ck_assert_uint_eq(buf_size(&ob), 9 + 1 + 5 + 7);
    decode_ob();
    ck_assert_uint_eq(fr.hd.type, PW_H2_FT_DATA);
    ck_assert_uint_eq(fr.hd.flags, PW_H2_FLAG_END_STREAM | PW_H2_FLAG_PADDED);
    ck_assert_uint_eq(fr.u.data.len, 5);
    ck_assert_uint_eq(fr.u.data.pad_len, 7);
    ck_assert_mem_eq(fr.u.data.data, "hello", 5);
    ck_assert_int_eq(pw_h2_write_data(&ob, 3, 0, NULL, 0, 256), -EINVAL);
}
END_TEST

START_TEST(rt_headers_priority_padded)
{
    pw_h2_priority pri = {5, 200, true};
    ck_assert_int_eq(pw_h2_write_headers(&ob, 7, PW_H2_FLAG_END_HEADERS, &pri,
                                         (const uint8_t *)"\x82\x86", 2, 3),
                     0);
    decode_ob();
    ck_assert(fr.u.headers.has_priority);
    ck_assert_uint_eq(fr.u.headers.pri.dependency, 5);
    ck_assert_uint_eq(fr.u.headers.pri.weight, 200);
    ck_assert(fr.u.headers.pri.exclusive);
    ck_assert_uint_eq(fr.u.headers.block_len, 2);
    ck_assert_uint_eq(fr.u.headers.pad_len, 3);
    ck_assert_uint_eq(fr.stream_error, 0);
}
END_TEST

START_TEST(rt_control_frames)
{
    pw_h2_priority pri = {9, 15, false};
    ck_assert_int_eq(pw_h2_write_priority(&ob, 11, &pri), 0);
    decode_ob();
    ck_assert_uint_eq(fr.u.priority.dependency, 9);
    ck_assert_uint_eq(fr.u.priority.weight, 15);
    buf_consume(&ob, buf_size(&ob));

    ck_assert_int_eq(pw_h2_write_rst_stream(&ob, 11, PW_H2_CANCEL), 0);
    decode_ob();
    ck_assert_uint_eq(fr.u.rst_stream.error_code, PW_H2_CANCEL);
    buf_consume(&ob, buf_size(&ob));

    pw_h2_setting st[3] = {{1, 100}, {4, 65536}, {0x99, 7}};
    ck_assert_int_eq(pw_h2_write_settings(&ob, st, 3), 0);
    decode_ob();
    ck_assert_uint_eq(fr.u.settings.count, 3);
    ck_assert_uint_eq(pw_h2_settings_get(&fr, 1).id, 4);
    ck_assert_uint_eq(pw_h2_settings_get(&fr, 1).value, 65536);
    ck_assert_uint_eq(pw_h2_settings_get(&fr, 2).id, 0x99); /* unknown: kept, ignored later */
    buf_consume(&ob, buf_size(&ob));

    ck_assert_int_eq(pw_h2_write_settings_ack(&ob), 0);
    decode_ob();
    ck_assert_uint_eq(fr.hd.flags, PW_H2_FLAG_ACK);
    buf_consume(&ob, buf_size(&ob));

    ck_assert_int_eq(
        pw_h2_write_push_promise(&ob, 1, PW_H2_FLAG_END_HEADERS, 2, (const uint8_t *)"ab", 2, 0),
        0);
    decode_ob();
    ck_assert_uint_eq(fr.u.push_promise.promised_id, 2);
    ck_assert_uint_eq(fr.u.push_promise.block_len, 2);
    buf_consume(&ob, buf_size(&ob));

    ck_assert_int_eq(pw_h2_write_ping(&ob, true, (const uint8_t *)"12345678"), 0);
    decode_ob();
    ck_assert_mem_eq(fr.u.ping.opaque, "12345678", 8);
    ck_assert_uint_eq(fr.hd.flags, PW_H2_FLAG_ACK);
    buf_consume(&ob, buf_size(&ob));

    ck_assert_int_eq(
        pw_h2_write_goaway(&ob, 41, PW_H2_ENHANCE_YOUR_CALM, (const uint8_t *)"bye", 3), 0);
    decode_ob();
    ck_assert_uint_eq(fr.u.goaway.last_stream_id, 41);
    ck_assert_uint_eq(fr.u.goaway.error_code, PW_H2_ENHANCE_YOUR_CALM);
    ck_assert_uint_eq(fr.u.goaway.debug_len, 3);
    buf_consume(&ob, buf_size(&ob));

    ck_assert_int_eq(pw_h2_write_window_update(&ob, 0, 0x7fffffff), 0);
    decode_ob();
    ck_assert_uint_eq(fr.u.window_update.increment, 0x7fffffff);
    buf_consume(&ob, buf_size(&ob));

    ck_assert_int_eq(
        pw_h2_write_continuation(&ob, 5, PW_H2_FLAG_END_HEADERS, (const uint8_t *)"xyz", 3), 0);
    decode_ob();
    ck_assert_uint_eq(fr.u.continuation.block_len, 3);
}
END_TEST

START_TEST(writers_respect_cap)
{
    buf small;
    buf_init(&small, 16);
    ck_assert_int_eq(pw_h2_write_ping(&small, false, (const uint8_t *)"12345678"), -ENOBUFS);
    ck_assert_uint_eq(buf_size(&small), 0); /* all or nothing */
    ck_assert_int_eq(pw_h2_write_settings_ack(&small), 0);
    ck_assert_int_eq(pw_h2_write_rst_stream(&small, 0x80000000u, 0), -EINVAL);
    buf_deinit(&small);
}
END_TEST

START_TEST(unknown_type_is_ignored)
{
    ck_assert_int_eq(dec(3, 0xee, 0xff, 5, "abc"), 12);
    ck_assert_uint_eq(fr.u.unknown.len, 3);
    ck_assert_str_eq(pw_h2_error_name(PW_H2_COMPRESSION_ERROR), "COMPRESSION_ERROR");
    ck_assert_str_eq(pw_h2_error_name(99), "UNKNOWN");
}
END_TEST

/* Every malformed frame and its error code. */
START_TEST(malformed_data)
{
    ck_assert_int_eq(dec(1, PW_H2_FT_DATA, 0, 0, "x"), PW_H2_ERR_PROTOCOL); /* §6.1 stream 0 */
    ck_assert_ptr_nonnull(desc);
    ck_assert_int_eq(dec(0, PW_H2_FT_DATA, PW_H2_FLAG_PADDED, 1, ""), PW_H2_ERR_FRAME_SIZE);
    /* §6.1: pad length >= payload length is a PROTOCOL_ERROR. */
    ck_assert_int_eq(dec(3, PW_H2_FT_DATA, PW_H2_FLAG_PADDED, 1, "\x03zz"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(3, PW_H2_FT_DATA, PW_H2_FLAG_PADDED, 1, "\x02zz"), 12);
    ck_assert_uint_eq(fr.u.data.len, 0);
}
END_TEST

START_TEST(malformed_headers)
{
    ck_assert_int_eq(dec(1, PW_H2_FT_HEADERS, 4, 0, "x"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(4, PW_H2_FT_HEADERS, PW_H2_FLAG_PRIORITY, 1, "\0\0\0\0"),
                     PW_H2_ERR_FRAME_SIZE);
    ck_assert_int_eq(
        dec(6, PW_H2_FT_HEADERS, PW_H2_FLAG_PRIORITY | PW_H2_FLAG_PADDED, 1, "\x01\0\0\0\0\x10"),
        PW_H2_ERR_PROTOCOL); /* no room for padding */
    ck_assert_int_eq(dec(2, PW_H2_FT_HEADERS, PW_H2_FLAG_PADDED, 1, "\x02x"), PW_H2_ERR_PROTOCOL);
    /* §5.3.1: depending on itself is a stream error. */
    ck_assert_int_eq(dec(5, PW_H2_FT_HEADERS, PW_H2_FLAG_PRIORITY, 3, "\0\0\0\x03\x10"), 14);
    ck_assert_uint_eq(fr.stream_error, PW_H2_PROTOCOL_ERROR);
}
END_TEST

START_TEST(malformed_priority)
{
    ck_assert_int_eq(dec(5, PW_H2_FT_PRIORITY, 0, 0, "\0\0\0\x01\x10"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(4, PW_H2_FT_PRIORITY, 0, 1, "\0\0\0\0"), 13); /* §6.3: stream error */
    ck_assert_uint_eq(fr.stream_error, PW_H2_FRAME_SIZE_ERROR);
    ck_assert_int_eq(dec(5, PW_H2_FT_PRIORITY, 0, 1, "\x80\0\0\x01\x10"), 14);
    ck_assert_uint_eq(fr.stream_error, PW_H2_PROTOCOL_ERROR);
    ck_assert_int_eq(dec(5, PW_H2_FT_PRIORITY, 0, 1, "\0\0\0\x03\x10"), 14);
    ck_assert_uint_eq(fr.stream_error, 0);
}
END_TEST

START_TEST(malformed_rst_settings)
{
    ck_assert_int_eq(dec(4, PW_H2_FT_RST_STREAM, 0, 0, "\0\0\0\x08"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(3, PW_H2_FT_RST_STREAM, 0, 1, "\0\0\0"), PW_H2_ERR_FRAME_SIZE);
    ck_assert_int_eq(dec(5, PW_H2_FT_RST_STREAM, 0, 1, "\0\0\0\0\0"), PW_H2_ERR_FRAME_SIZE);
    ck_assert_int_eq(dec(6, PW_H2_FT_SETTINGS, 0, 1, "\0\x01\0\0\0\0"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(6, PW_H2_FT_SETTINGS, PW_H2_FLAG_ACK, 0, "\0\x01\0\0\0\0"),
                     PW_H2_ERR_FRAME_SIZE);
    ck_assert_int_eq(dec(5, PW_H2_FT_SETTINGS, 0, 0, "\0\x01\0\0\0"), PW_H2_ERR_FRAME_SIZE);
    ck_assert_int_eq(dec(6, PW_H2_FT_SETTINGS, 0, 0, "\0\x02\0\0\0\x02"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(6, PW_H2_FT_SETTINGS, 0, 0, "\0\x02\0\0\0\x01"), 15);
    ck_assert_int_eq(dec(6, PW_H2_FT_SETTINGS, 0, 0, "\0\x04\x80\0\0\0"), PW_H2_ERR_FLOW_CONTROL);
    ck_assert_int_eq(dec(6, PW_H2_FT_SETTINGS, 0, 0, "\0\x04\x7f\xff\xff\xff"), 15);
    ck_assert_int_eq(dec(6, PW_H2_FT_SETTINGS, 0, 0, "\0\x05\0\0\x3f\xff"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(6, PW_H2_FT_SETTINGS, 0, 0, "\0\x05\x01\0\0\0"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(6, PW_H2_FT_SETTINGS, 0, 0, "\0\x05\0\xff\xff\xff"), 15);
    ck_assert_int_eq(dec(6, PW_H2_FT_SETTINGS, 0, 0, "\xab\xcd\xff\xff\xff\xff"), 15);
    ck_assert_int_eq(dec(0, PW_H2_FT_SETTINGS, 0, 0, ""), 9);
}
END_TEST

START_TEST(malformed_push_ping_goaway_wu_continuation)
{
    ck_assert_int_eq(dec(4, PW_H2_FT_PUSH_PROMISE, 4, 0, "\0\0\0\x02"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(3, PW_H2_FT_PUSH_PROMISE, 4, 1, "\0\0\0"), PW_H2_ERR_FRAME_SIZE);
    ck_assert_int_eq(dec(8, PW_H2_FT_PING, 0, 1, "12345678"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(7, PW_H2_FT_PING, 0, 0, "1234567"), PW_H2_ERR_FRAME_SIZE);
    ck_assert_int_eq(dec(9, PW_H2_FT_PING, 0, 0, "123456789"), PW_H2_ERR_FRAME_SIZE);
    ck_assert_int_eq(dec(8, PW_H2_FT_GOAWAY, 0, 1, "\0\0\0\0\0\0\0\0"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(7, PW_H2_FT_GOAWAY, 0, 0, "\0\0\0\0\0\0\0"), PW_H2_ERR_FRAME_SIZE);
    ck_assert_int_eq(dec(3, PW_H2_FT_WINDOW_UPDATE, 0, 0, "\0\0\x01"), PW_H2_ERR_FRAME_SIZE);
    ck_assert_int_eq(dec(4, PW_H2_FT_WINDOW_UPDATE, 0, 0, "\0\0\0\0"), PW_H2_ERR_PROTOCOL);
    ck_assert_int_eq(dec(4, PW_H2_FT_WINDOW_UPDATE, 0, 1, "\x80\0\0\0"), 13);
    ck_assert_uint_eq(fr.stream_error, PW_H2_PROTOCOL_ERROR); /* §6.9: 0 on a stream */
    ck_assert_int_eq(dec(4, PW_H2_FT_WINDOW_UPDATE, 0, 1, "\x80\0\0\x01"), 13);
    ck_assert_uint_eq(fr.u.window_update.increment, 1); /* reserved bit ignored */
    ck_assert_int_eq(dec(1, PW_H2_FT_CONTINUATION, 0, 0, "x"), PW_H2_ERR_PROTOCOL);
}
END_TEST

/* One error space per layer: a pw_h2 result never equals an errno value or another proto_wire
 * module's code (before: -PW_H2_INTERNAL_ERROR == -2 == -ENOENT), and each maps back to the RFC
 * code for GOAWAY/RST_STREAM and to a name for logs. */
START_TEST(error_spaces_disjoint)
{
    for (uint32_t code = PW_H2_NO_ERROR; code <= PW_H2_HTTP_1_1_REQUIRED; code++) {
        const int e = pw_h2_err_from_code(code);
        ck_assert_int_lt(e, -EHWPOISON); /* below every errno value */
        ck_assert(pw_h2_is_err(e));
        ck_assert_uint_eq(pw_h2_err_code(e), code);
        ck_assert_str_eq(pw_h2_strerror(e), pw_h2_error_name(code));
        ck_assert_int_ne(e, PW_PB_ERR_TRUNCATED);
        ck_assert(e != PW_HPACK_ERR_COMPRESSION && e != PW_HPACK_ERR_LIST_TOO_LARGE);
    }
    ck_assert_int_ne(PW_H2_ERR_INTERNAL, -ENOENT);
    ck_assert_int_ne(PW_H2_ERR_PROTOCOL, -EPERM);
    ck_assert_int_eq(PW_H2_ERR_PROTOCOL, pw_h2_err_from_code(PW_H2_PROTOCOL_ERROR));
    /* A code beyond the RFC's (an application's GOAWAY) stays in range and negative. */
    ck_assert_int_eq(pw_h2_err_from_code(0xdeadbeefu), PW_H2_ERR_OTHER);
    ck_assert(pw_h2_is_err(PW_H2_ERR_OTHER));
    ck_assert_uint_eq(pw_h2_err_code(PW_H2_ERR_OTHER), PW_H2_INTERNAL_ERROR);
    /* Other layers map to the code a GOAWAY carries. */
    ck_assert(!pw_h2_is_err(-ENOMEM) && !pw_h2_is_err(PW_HPACK_ERR_COMPRESSION));
    ck_assert_uint_eq(pw_h2_err_code(-ENOMEM), PW_H2_INTERNAL_ERROR);
    ck_assert_uint_eq(pw_h2_err_code(-ENOBUFS), PW_H2_INTERNAL_ERROR);
    ck_assert_uint_eq(pw_h2_err_code(PW_HPACK_ERR_COMPRESSION), PW_H2_COMPRESSION_ERROR);
    ck_assert_uint_eq(pw_h2_err_code(PW_HPACK_ERR_HUFFMAN), PW_H2_COMPRESSION_ERROR);
    ck_assert_uint_eq(pw_h2_err_code(0), PW_H2_NO_ERROR);
    ck_assert_str_eq(pw_h2_strerror(-ENOMEM), "ENOMEM");
    ck_assert_str_eq(pw_h2_strerror(-ENOBUFS), "ENOBUFS");
    ck_assert_str_eq(pw_h2_strerror(PW_HPACK_ERR_COMPRESSION), "compression");
    /* The frame decoder speaks the same space. */
    uint8_t wu[9 + 4] = {0, 0, 4, PW_H2_FT_WINDOW_UPDATE, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    pw_h2_frame f;
    const ssize_t r = pw_h2_frame_decode(&f, wu, sizeof wu, 16384, NULL);
    ck_assert_int_eq(r, PW_H2_ERR_PROTOCOL);
    ck_assert_uint_eq(pw_h2_err_code(r), PW_H2_PROTOCOL_ERROR);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("pw_h2_frame");
    TCase *tc = tcase_create("codec");
    tcase_add_checked_fixture(tc, ob_setup, ob_teardown);
    tcase_add_test(tc, header_round_trip_and_reserved_bit);
    tcase_add_test(tc, incomplete_and_too_large);
    tcase_add_test(tc, rt_data_padded);
    tcase_add_test(tc, rt_headers_priority_padded);
    tcase_add_test(tc, rt_control_frames);
    tcase_add_test(tc, writers_respect_cap);
    tcase_add_test(tc, unknown_type_is_ignored);
    tcase_add_test(tc, malformed_data);
    tcase_add_test(tc, malformed_headers);
    tcase_add_test(tc, malformed_priority);
    tcase_add_test(tc, malformed_rst_settings);
    tcase_add_test(tc, malformed_push_ping_goaway_wu_continuation);
    tcase_add_test(tc, error_spaces_disjoint);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
