/* Unit tests for proto_wire/pw_pb: protobuf wire format reader and encoder. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_pb.h"
#include "ts_main.h"

#define U8(...) ((const uint8_t[]){__VA_ARGS__})
#define U8LEN(...) sizeof((const uint8_t[]){__VA_ARGS__})
#define EXPECT(b, ...) expect_bytes((b), U8(__VA_ARGS__), U8LEN(__VA_ARGS__))

static void expect_bytes(const buf *b, const uint8_t *want, size_t n)
{
    ck_assert_uint_eq(buf_size(b), n);
    ck_assert_mem_eq(buf_begin(b), want, n);
}

static buf out;
static void setup(void) { buf_init(&out, 1 << 24); }
static void teardown(void) { buf_deinit(&out); }

/* Decodes exactly one field from (p, n) and expects the end afterwards. */
static pw_pb_field one_field(const uint8_t *p, size_t n)
{
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, p, n);
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert_int_eq(pw_pb_next(&r, &(pw_pb_field){0}), 0);
    return f;
}

static int first_result(const uint8_t *p, size_t n)
{
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, p, n);
    int rc;
    while ((rc = pw_pb_next(&r, &f)) == 1) {}
    return rc;
}

/* ---- varints ---- */

START_TEST(varint_boundaries)
{
    static const struct {
        uint64_t v;
        uint8_t bytes[10];
        size_t n;
    } cases[] = {
        {0, {0x00}, 1},
        {1, {0x01}, 1},
        {127, {0x7f}, 1},
        {128, {0x80, 0x01}, 2},
        {150, {0x96, 0x01}, 2},
        {300, {0xac, 0x02}, 2},
        {16383, {0xff, 0x7f}, 2},
        {16384, {0x80, 0x80, 0x01}, 3},
        {(1ull << 32) - 1, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
        {1ull << 32, {0x80, 0x80, 0x80, 0x80, 0x10}, 5},
        {1ull << 63, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 10},
        {UINT64_MAX, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_consume(&out, buf_size(&out));
        ck_assert_int_eq(pw_pb_put_varint(&out, cases[i].v), 0);
        expect_bytes(&out, cases[i].bytes, cases[i].n);
        ck_assert_uint_eq(pw_pb_varint_len(cases[i].v), cases[i].n);
        uint64_t got = 0;
        ck_assert_int_eq(pw_pb_read_varint(cases[i].bytes, cases[i].n, &got), (int)cases[i].n);
        ck_assert_uint_eq(got, cases[i].v);
        /* Truncated by one byte. */
        ck_assert_int_eq(pw_pb_read_varint(cases[i].bytes, cases[i].n - 1, &got),
                         PW_PB_ERR_TRUNCATED);
    }
}
END_TEST

START_TEST(varint_overlong_and_overflow)
{
    uint64_t v = 0;
    /* 11 bytes: continuation on the 10th byte. */
    const uint8_t eleven[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x01};
    ck_assert_int_eq(pw_pb_read_varint(eleven, sizeof eleven, &v), PW_PB_ERR_BAD_VARINT);
    /* 10 bytes with the continuation bit and nothing after: still "more than 10 bytes". */
    ck_assert_int_eq(pw_pb_read_varint(eleven, 10, &v), PW_PB_ERR_BAD_VARINT);
    /* 10th byte 0x02 would set bit 64. */
    const uint8_t overflow[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02};
    ck_assert_int_eq(pw_pb_read_varint(overflow, sizeof overflow, &v), PW_PB_ERR_BAD_VARINT);
    /* Non-minimal but within 10 bytes: accepted (protobuf parsers accept padded varints). */
    const uint8_t padded[] = {0x81, 0x80, 0x80, 0x80, 0x00};
    ck_assert_int_eq(pw_pb_read_varint(padded, sizeof padded, &v), 5);
    ck_assert_uint_eq(v, 1);
    /* Empty input. */
    ck_assert_int_eq(pw_pb_read_varint(padded, 0, &v), PW_PB_ERR_TRUNCATED);
    /* In a field: tag then an 11-byte value. */
    uint8_t msg[12] = {0x08};
    memcpy(msg + 1, eleven, sizeof eleven);
    ck_assert_int_eq(first_result(msg, sizeof msg), PW_PB_ERR_BAD_VARINT);
    /* An overlong tag. */
    ck_assert_int_eq(first_result(eleven, sizeof eleven), PW_PB_ERR_BAD_VARINT);
}
END_TEST

/* ---- known encodings from the protobuf encoding docs ---- */

START_TEST(known_bytes)
{
    ck_assert_int_eq(pw_pb_put_uint32(&out, 1, 150), 0);
    EXPECT(&out, 0x08, 0x96, 0x01);
    buf_consume(&out, buf_size(&out));

    ck_assert_int_eq(pw_pb_put_string(&out, 2, "testing", 7), 0);
    EXPECT(&out, 0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67);
    buf_consume(&out, buf_size(&out));

    /* Embedded message: field 3 holding {1: 150}. */
    pw_pb_mark m;
    ck_assert_int_eq(pw_pb_submsg_begin(&out, 3, &m), 0);
    ck_assert_int_eq(pw_pb_put_int32(&out, 1, 150), 0);
    ck_assert_int_eq(pw_pb_submsg_end(&out, &m), 0);
    EXPECT(&out, 0x1a, 0x03, 0x08, 0x96, 0x01);
    buf_consume(&out, buf_size(&out));

    /* Packed repeated: field 4 = [3, 270, 86942] -> 22 06 03 8E 02 9E A7 05. */
    const uint64_t vals[] = {3, 270, 86942};
    ck_assert_int_eq(pw_pb_put_packed_varint(&out, 4, vals, 3), 0);
    EXPECT(&out, 0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05);
    buf_consume(&out, buf_size(&out));

    /* sint32 -2 -> zigzag 3; sint64 -1 -> 1. */
    ck_assert_int_eq(pw_pb_put_sint32(&out, 1, -2), 0);
    ck_assert_int_eq(pw_pb_put_sint64(&out, 2, -1), 0);
    EXPECT(&out, 0x08, 0x03, 0x10, 0x01);
    buf_consume(&out, buf_size(&out));

    /* fixed32 / fixed64 little-endian; double 1.0 = 0x3FF0000000000000. */
    ck_assert_int_eq(pw_pb_put_fixed32(&out, 1, 0x01020304), 0);
    ck_assert_int_eq(pw_pb_put_double(&out, 2, 1.0), 0);
    EXPECT(&out, 0x0d, 0x04, 0x03, 0x02, 0x01, 0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f);
    buf_consume(&out, buf_size(&out));

    ck_assert_int_eq(pw_pb_put_bool(&out, 7, true), 0);
    ck_assert_int_eq(pw_pb_put_bool(&out, 7, false), 0);
    EXPECT(&out, 0x38, 0x01, 0x38, 0x00);
}
END_TEST

START_TEST(int32_negative_is_ten_bytes)
{
    ck_assert_int_eq(pw_pb_put_int32(&out, 1, -1), 0);
    EXPECT(&out, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    pw_pb_field f = one_field(buf_begin(&out), buf_size(&out));
    ck_assert_int_eq(f.wt, PW_PB_WT_VARINT);
    ck_assert_int_eq(pw_pb_as_int32(f.u64), -1);
    ck_assert_int_eq(pw_pb_as_int64(f.u64), -1);

    buf_consume(&out, buf_size(&out));
    ck_assert_int_eq(pw_pb_put_int32(&out, 1, INT32_MIN), 0);
    ck_assert_uint_eq(buf_size(&out), 11);
    f = one_field(buf_begin(&out), buf_size(&out));
    ck_assert_int_eq(pw_pb_as_int32(f.u64), INT32_MIN);

    /* A 5-byte (non sign-extended) negative int32 from a sloppy encoder still decodes. */
    f = one_field(U8(0x08, 0xff, 0xff, 0xff, 0xff, 0x0f), 6);
    ck_assert_int_eq(pw_pb_as_int32(f.u64), -1);

    buf_consume(&out, buf_size(&out));
    ck_assert_int_eq(pw_pb_put_int64(&out, 1, INT64_MIN), 0);
    f = one_field(buf_begin(&out), buf_size(&out));
    ck_assert(pw_pb_as_int64(f.u64) == INT64_MIN);
}
END_TEST

START_TEST(zigzag)
{
    ck_assert_uint_eq(pw_pb_zigzag_encode32(0), 0);
    ck_assert_uint_eq(pw_pb_zigzag_encode32(-1), 1);
    ck_assert_uint_eq(pw_pb_zigzag_encode32(1), 2);
    ck_assert_uint_eq(pw_pb_zigzag_encode32(-2), 3);
    ck_assert_uint_eq(pw_pb_zigzag_encode32(INT32_MAX), 0xfffffffeu);
    ck_assert_uint_eq(pw_pb_zigzag_encode32(INT32_MIN), 0xffffffffu);
    ck_assert_uint_eq(pw_pb_zigzag_encode64(INT64_MAX), UINT64_MAX - 1);
    ck_assert_uint_eq(pw_pb_zigzag_encode64(INT64_MIN), UINT64_MAX);
    const int64_t v64[] = {0, 1, -1, 63, -64, 64, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < sizeof v64 / sizeof v64[0]; i++)
        ck_assert(pw_pb_zigzag_decode64(pw_pb_zigzag_encode64(v64[i])) == v64[i]);
    const int32_t v32[] = {0, 1, -1, 63, -64, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof v32 / sizeof v32[0]; i++) {
        ck_assert_int_eq(pw_pb_zigzag_decode32(pw_pb_zigzag_encode32(v32[i])), v32[i]);
        buf_consume(&out, buf_size(&out));
        ck_assert_int_eq(pw_pb_put_sint32(&out, 5, v32[i]), 0);
        pw_pb_field f = one_field(buf_begin(&out), buf_size(&out));
        ck_assert_int_eq(pw_pb_as_sint32(f.u64), v32[i]);
    }
    /* sint32 -1 is one byte, unlike int32 -1. */
    buf_consume(&out, buf_size(&out));
    ck_assert_int_eq(pw_pb_put_sint32(&out, 1, -1), 0);
    EXPECT(&out, 0x08, 0x01);
}
END_TEST

START_TEST(floats)
{
    const float fs[] = {0.0f, -0.0f, 1.5f, -3.25e10f, INFINITY};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
        buf_consume(&out, buf_size(&out));
        ck_assert_int_eq(pw_pb_put_float(&out, 9, fs[i]), 0);
        ck_assert_uint_eq(buf_size(&out), 5);
        pw_pb_field f = one_field(buf_begin(&out), buf_size(&out));
        ck_assert_int_eq(f.wt, PW_PB_WT_I32);
        ck_assert_uint_eq(pw_pb_float_bits(pw_pb_as_float(f.u64)), pw_pb_float_bits(fs[i]));
    }
    const double ds[] = {0.0, -0.0, 2.5, 1e300, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        buf_consume(&out, buf_size(&out));
        ck_assert_int_eq(pw_pb_put_double(&out, 9, ds[i]), 0);
        ck_assert_uint_eq(buf_size(&out), 9);
        pw_pb_field f = one_field(buf_begin(&out), buf_size(&out));
        ck_assert_int_eq(f.wt, PW_PB_WT_I64);
        ck_assert_uint_eq(pw_pb_double_bits(pw_pb_as_double(f.u64)), pw_pb_double_bits(ds[i]));
    }
}
END_TEST

/* ---- reader ---- */

START_TEST(every_wire_type)
{
    ck_assert_int_eq(pw_pb_put_uint64(&out, 1, 42), 0);
    ck_assert_int_eq(pw_pb_put_fixed64(&out, 2, 0x1122334455667788ull), 0);
    ck_assert_int_eq(pw_pb_put_bytes(&out, 3, "abc", 3), 0);
    ck_assert_int_eq(pw_pb_put_fixed32(&out, 4, 0xdeadbeef), 0);
    ck_assert_int_eq(pw_pb_put_bytes(&out, 5, NULL, 0), 0);
    pw_pb_reader r;
    pw_pb_field f;
    const uint8_t *base = buf_begin(&out);
    pw_pb_reader_init(&r, base, buf_size(&out));
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert_uint_eq(f.num, 1);
    ck_assert_int_eq(f.wt, PW_PB_WT_VARINT);
    ck_assert_uint_eq(f.u64, 42);
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert_uint_eq(f.num, 2);
    ck_assert_int_eq(f.wt, PW_PB_WT_I64);
    ck_assert_uint_eq(f.u64, 0x1122334455667788ull);
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert_uint_eq(f.num, 3);
    ck_assert_int_eq(f.wt, PW_PB_WT_LEN);
    ck_assert_uint_eq(f.bytes.len, 3);
    ck_assert_ptr_eq(f.bytes.ptr, base + 2 + 9 + 2); /* zero copy: a view into the input */
    ck_assert_mem_eq(f.bytes.ptr, "abc", 3);
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert_uint_eq(f.num, 4);
    ck_assert_int_eq(f.wt, PW_PB_WT_I32);
    ck_assert_uint_eq(f.u64, 0xdeadbeef);
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert_uint_eq(f.num, 5);
    ck_assert_int_eq(f.wt, PW_PB_WT_LEN);
    ck_assert_uint_eq(f.bytes.len, 0);
    ck_assert_int_eq(pw_pb_next(&r, &f), 0);
    ck_assert_int_eq(pw_pb_next(&r, &f), 0);
    ck_assert_uint_eq(pw_pb_reader_left(&r), 0);

    /* Empty input is an empty message. */
    pw_pb_reader_init(&r, NULL, 0);
    ck_assert_int_eq(pw_pb_next(&r, &f), 0);
}
END_TEST

START_TEST(bad_wire_types_and_groups)
{
    /* Field 1 with wire types 3 (SGROUP), 4 (EGROUP), 6, 7. */
    const uint8_t tags[] = {0x0b, 0x0c, 0x0e, 0x0f};
    for (size_t i = 0; i < sizeof tags; i++) {
        uint8_t msg[] = {0x08, 0x01, tags[i], 0x00};
        pw_pb_reader r;
        pw_pb_field f;
        pw_pb_reader_init(&r, msg, sizeof msg);
        ck_assert_int_eq(pw_pb_next(&r, &f), 1);
        ck_assert_int_eq(pw_pb_next(&r, &f), PW_PB_ERR_BAD_WIRE_TYPE);
        ck_assert_int_eq(pw_pb_next(&r, &f), PW_PB_ERR_BAD_WIRE_TYPE); /* sticky */
    }
    ck_assert_str_eq(pw_pb_strerror(PW_PB_ERR_BAD_WIRE_TYPE), "bad wire type");
}
END_TEST

START_TEST(field_numbers)
{
    /* Field 0 with each valid wire type. */
    ck_assert_int_eq(first_result(U8(0x00, 0x01), 2), PW_PB_ERR_BAD_FIELD);
    ck_assert_int_eq(first_result(U8(0x02, 0x00), 2), PW_PB_ERR_BAD_FIELD);
    ck_assert_int_eq(first_result(U8(0x05, 0, 0, 0, 0), 5), PW_PB_ERR_BAD_FIELD);
    /* Largest legal field number round-trips. */
    ck_assert_int_eq(pw_pb_put_uint32(&out, PW_PB_FIELD_MAX, 7), 0);
    ck_assert_uint_eq(buf_size(&out), pw_pb_tag_len(PW_PB_FIELD_MAX) + 1);
    pw_pb_field f = one_field(buf_begin(&out), buf_size(&out));
    ck_assert_uint_eq(f.num, PW_PB_FIELD_MAX);
    ck_assert_uint_eq(f.u64, 7);
    /* 2^29 as a hand-made tag (varint of 2^32). */
    ck_assert_int_eq(first_result(U8(0x80, 0x80, 0x80, 0x80, 0x10, 0x01), 6), PW_PB_ERR_BAD_FIELD);
    /* A tag above 32 bits. */
    ck_assert_int_eq(first_result(U8(0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x01), 7),
                     PW_PB_ERR_BAD_FIELD);
    /* The encoder refuses them and writes nothing. */
    buf_consume(&out, buf_size(&out));
    ck_assert_int_eq(pw_pb_put_uint32(&out, 0, 1), -EINVAL);
    ck_assert_int_eq(pw_pb_put_uint32(&out, PW_PB_FIELD_MAX + 1, 1), -EINVAL);
    ck_assert_int_eq(pw_pb_put_bytes(&out, 0, "x", 1), -EINVAL);
    ck_assert_int_eq(pw_pb_put_tag(&out, 0, PW_PB_WT_VARINT), -EINVAL);
    pw_pb_mark m;
    ck_assert_int_eq(pw_pb_submsg_begin(&out, 0, &m), -EINVAL);
    ck_assert_uint_eq(buf_size(&out), 0);
}
END_TEST

START_TEST(truncated_values)
{
    ck_assert_int_eq(first_result(U8(0x08), 1), PW_PB_ERR_TRUNCATED);       /* no value */
    ck_assert_int_eq(first_result(U8(0x08, 0x80), 2), PW_PB_ERR_TRUNCATED); /* half varint */
    ck_assert_int_eq(first_result(U8(0x80), 1), PW_PB_ERR_TRUNCATED);       /* half tag */
    ck_assert_int_eq(first_result(U8(0x09, 1, 2, 3, 4, 5, 6, 7), 8), PW_PB_ERR_TRUNCATED);
    ck_assert_int_eq(first_result(U8(0x0d, 1, 2, 3), 4), PW_PB_ERR_TRUNCATED);
    ck_assert_int_eq(first_result(U8(0x0a), 1), PW_PB_ERR_TRUNCATED);       /* no length */
    ck_assert_int_eq(first_result(U8(0x0a, 0x80), 2), PW_PB_ERR_TRUNCATED); /* half length */
    /* Exactly enough bytes is fine. */
    ck_assert_int_eq(first_result(U8(0x09, 1, 2, 3, 4, 5, 6, 7, 8), 9), 0);
    ck_assert_int_eq(first_result(U8(0x0d, 1, 2, 3, 4), 5), 0);
}
END_TEST

START_TEST(length_beyond_buffer)
{
    ck_assert_int_eq(first_result(U8(0x0a, 0x05, 'a', 'b', 'c', 'd'), 6), PW_PB_ERR_LEN_OVERFLOW);
    ck_assert_int_eq(first_result(U8(0x0a, 0x04, 'a', 'b', 'c', 'd'), 6), 0);
    /* A 64-bit length must not wrap the pointer arithmetic. */
    ck_assert_int_eq(
        first_result(U8(0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'x'), 12),
        PW_PB_ERR_LEN_OVERFLOW);
    ck_assert_int_eq(first_result(U8(0x0a, 0x80, 0x80, 0x80, 0x80, 0x08, 'x'), 7),
                     PW_PB_ERR_LEN_OVERFLOW);
    /* The valid field before the bad one is still yielded. */
    pw_pb_reader r;
    pw_pb_field f;
    const uint8_t msg[] = {0x08, 0x01, 0x12, 0x09, 'x'};
    pw_pb_reader_init(&r, msg, sizeof msg);
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert_int_eq(pw_pb_next(&r, &f), PW_PB_ERR_LEN_OVERFLOW);
    ck_assert_str_eq(pw_pb_strerror(PW_PB_ERR_LEN_OVERFLOW), "length beyond input");
}
END_TEST

/* A tiny schema: message Item { uint64 id = 1; string name = 2; } with unknown fields mixed in. */
START_TEST(unknown_fields_skipped)
{
    ck_assert_int_eq(pw_pb_put_uint64(&out, 99, 123456789), 0);
    ck_assert_int_eq(pw_pb_put_uint64(&out, 1, 77), 0);
    ck_assert_int_eq(pw_pb_put_fixed64(&out, 1000, 5), 0);
    pw_pb_mark m;
    ck_assert_int_eq(pw_pb_submsg_begin(&out, 50, &m), 0);
    ck_assert_int_eq(pw_pb_put_string(&out, 2, "inner", 5), 0);
    ck_assert_int_eq(pw_pb_submsg_end(&out, &m), 0);
    ck_assert_int_eq(pw_pb_put_string(&out, 2, "name", 4), 0);
    ck_assert_int_eq(pw_pb_put_fixed32(&out, PW_PB_FIELD_MAX, 5), 0);

    uint64_t id = 0;
    pw_pb_bytes name = {0};
    int unknown = 0;
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    pw_pb_reader_init(&r, buf_begin(&out), buf_size(&out));
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        if (f.num == 1 && f.wt == PW_PB_WT_VARINT) id = f.u64;
        else if (f.num == 2 && f.wt == PW_PB_WT_LEN) name = f.bytes;
        else unknown++;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(id, 77);
    ck_assert_uint_eq(name.len, 4);
    ck_assert_mem_eq(name.ptr, "name", 4);
    ck_assert_int_eq(unknown, 4);
}
END_TEST

/* ---- nested messages ---- */

static void check_filled(pw_pb_bytes b, size_t n, uint8_t seed)
{
    ck_assert_uint_eq(b.len, n);
    size_t bad = 0; /* one assertion: Check records every passing assertion, which is slow */
    for (size_t i = 0; i < n; i++) bad += b.ptr[i] != (uint8_t)(seed + i);
    ck_assert_uint_eq(bad, 0);
}

static uint8_t *filled(size_t n, uint8_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i);
    return p;
}

/* outer{1: mid{2: inner{3: bytes[n3]}, 4: bytes[n4]}, 5: 9} for sizes that cross the varint
 * length boundaries (127/128, 16383/16384, 2 MiB). */
static void nested_case(size_t n3, size_t n4)
{
    buf_consume(&out, buf_size(&out));
    uint8_t *b3 = filled(n3, 3), *b4 = filled(n4, 4);
    pw_pb_mark mo, mm, mi;
    ck_assert_int_eq(pw_pb_submsg_begin(&out, 1, &mo), 0);
    ck_assert_int_eq(pw_pb_submsg_begin(&out, 2, &mm), 0);
    ck_assert_int_eq(pw_pb_submsg_begin(&out, 3, &mi), 0);
    ck_assert_int_eq(pw_pb_put_bytes(&out, 3, b3, n3), 0);
    ck_assert_int_eq(pw_pb_submsg_end(&out, &mi), 0);
    ck_assert_int_eq(pw_pb_submsg_end(&out, &mm), 0);
    ck_assert_int_eq(pw_pb_put_bytes(&out, 4, b4, n4), 0);
    ck_assert_int_eq(pw_pb_submsg_end(&out, &mo), 0);
    ck_assert_int_eq(pw_pb_put_uint32(&out, 5, 9), 0);

    /* Size-first prediction agrees with begin/end. */
    size_t inner = pw_pb_len_field_len(3, n3);
    size_t mid = pw_pb_len_field_len(3, inner);
    size_t outer_body = pw_pb_len_field_len(2, mid) + pw_pb_len_field_len(4, n4);
    ck_assert_uint_eq(buf_size(&out), pw_pb_len_field_len(1, outer_body) + 2);

    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, buf_begin(&out), buf_size(&out));
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert_uint_eq(f.num, 1);
    pw_pb_reader ro;
    pw_pb_reader_init(&ro, f.bytes.ptr, f.bytes.len);
    ck_assert_int_eq(pw_pb_next(&ro, &f), 1);
    ck_assert_uint_eq(f.num, 2);
    pw_pb_reader rm;
    pw_pb_reader_init(&rm, f.bytes.ptr, f.bytes.len);
    ck_assert_int_eq(pw_pb_next(&rm, &f), 1);
    ck_assert_uint_eq(f.num, 3);
    pw_pb_reader ri;
    pw_pb_reader_init(&ri, f.bytes.ptr, f.bytes.len);
    ck_assert_int_eq(pw_pb_next(&ri, &f), 1);
    check_filled(f.bytes, n3, 3);
    ck_assert_int_eq(pw_pb_next(&ri, &f), 0);
    ck_assert_int_eq(pw_pb_next(&rm, &f), 0);
    ck_assert_int_eq(pw_pb_next(&ro, &f), 1);
    ck_assert_uint_eq(f.num, 4);
    check_filled(f.bytes, n4, 4);
    ck_assert_int_eq(pw_pb_next(&ro, &f), 0);
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert_uint_eq(f.num, 5);
    ck_assert_uint_eq(f.u64, 9);
    ck_assert_int_eq(pw_pb_next(&r, &f), 0);
    free(b3);
    free(b4);
}

START_TEST(nested_messages)
{
    const size_t sizes[] = {0, 1, 120, 123, 124, 125, 126, 127, 128, 16380, 16384, 1 << 21};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j += 3)
            nested_case(sizes[i], sizes[j]);
}
END_TEST

START_TEST(submsg_after_consume_and_realloc)
{
    /* The mark is relative to buf_begin, so consuming before begin and growth in between
     * (realloc + compaction) keep it right. */
    buf b;
    buf_init(&b, 1 << 20);
    uint8_t junk[700] = {0};
    ck_assert_int_eq(buf_append(&b, junk, sizeof junk), 0);
    buf_consume(&b, 600); /* rd = 600 */
    pw_pb_mark m;
    ck_assert_int_eq(pw_pb_submsg_begin(&b, 1, &m), 0);
    uint8_t *body = filled(5000, 1);
    ck_assert_int_eq(pw_pb_put_bytes(&b, 2, body, 5000), 0);
    ck_assert_int_eq(pw_pb_submsg_end(&b, &m), 0);
    buf_consume(&b, 100);
    pw_pb_field f = one_field(buf_begin(&b), buf_size(&b));
    ck_assert_uint_eq(f.num, 1);
    pw_pb_field g = one_field(f.bytes.ptr, f.bytes.len);
    check_filled(g.bytes, 5000, 1);
    free(body);
    buf_deinit(&b);
}
END_TEST

START_TEST(empty_submsg)
{
    pw_pb_mark m;
    ck_assert_int_eq(pw_pb_submsg_begin(&out, 6, &m), 0);
    ck_assert_int_eq(pw_pb_submsg_end(&out, &m), 0);
    EXPECT(&out, 0x32, 0x00);
}
END_TEST

/* ---- packed ---- */

START_TEST(packed_fields)
{
    const uint64_t vals[] = {0, 1, 127, 128, 1ull << 35, UINT64_MAX, (uint64_t)-1};
    const size_t n = sizeof vals / sizeof vals[0];
    ck_assert_int_eq(pw_pb_put_packed_varint(&out, 8, vals, n), 0);
    ck_assert_int_eq(pw_pb_put_packed_varint(&out, 9, vals, 0), 0); /* writes nothing */
    pw_pb_field f = one_field(buf_begin(&out), buf_size(&out));
    ck_assert_uint_eq(f.num, 8);
    ck_assert_int_eq(pw_pb_packed_varint_count(f.bytes), (long)n);
    pw_pb_packed it;
    pw_pb_packed_init(&it, f.bytes);
    uint64_t v;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(pw_pb_packed_next_varint(&it, &v), 1);
        ck_assert_uint_eq(v, vals[i]);
    }
    ck_assert_int_eq(pw_pb_packed_next_varint(&it, &v), 0);

    /* Packed via begin/end: fixed32 and fixed64 elements written by hand. */
    buf_consume(&out, buf_size(&out));
    pw_pb_mark m;
    ck_assert_int_eq(pw_pb_submsg_begin(&out, 3, &m), 0);
    const uint8_t f32[] = {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(buf_append(&out, f32, sizeof f32), 0);
    ck_assert_int_eq(pw_pb_submsg_end(&out, &m), 0);
    f = one_field(buf_begin(&out), buf_size(&out));
    pw_pb_packed_init(&it, f.bytes);
    ck_assert_int_eq(pw_pb_packed_next_fixed32(&it, &v), 1);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(pw_pb_packed_next_fixed32(&it, &v), 1);
    ck_assert_uint_eq(v, 0xffffffffu);
    ck_assert_int_eq(pw_pb_packed_next_fixed32(&it, &v), 0);
    pw_pb_packed_init(&it, f.bytes);
    ck_assert_int_eq(pw_pb_packed_next_fixed64(&it, &v), 1);
    ck_assert_uint_eq(v, 0xffffffff00000001ull);
    ck_assert_int_eq(pw_pb_packed_next_fixed64(&it, &v), 0);

    /* Truncated packed payloads. */
    pw_pb_bytes bad = {U8(0x01, 0x80), 2};
    ck_assert_int_eq(pw_pb_packed_varint_count(bad), PW_PB_ERR_TRUNCATED);
    pw_pb_packed_init(&it, bad);
    ck_assert_int_eq(pw_pb_packed_next_varint(&it, &v), 1);
    ck_assert_int_eq(pw_pb_packed_next_varint(&it, &v), PW_PB_ERR_TRUNCATED);
    pw_pb_bytes bad32 = {U8(1, 2, 3, 4, 5), 5};
    pw_pb_packed_init(&it, bad32);
    ck_assert_int_eq(pw_pb_packed_next_fixed32(&it, &v), 1);
    ck_assert_int_eq(pw_pb_packed_next_fixed32(&it, &v), PW_PB_ERR_TRUNCATED);
    pw_pb_packed_init(&it, bad32);
    ck_assert_int_eq(pw_pb_packed_next_fixed64(&it, &v), PW_PB_ERR_TRUNCATED);
    pw_pb_bytes none = {NULL, 0};
    ck_assert_int_eq(pw_pb_packed_varint_count(none), 0);
}
END_TEST

/* ---- encoder limits ---- */

START_TEST(cap_is_enforced)
{
    buf b;
    buf_init(&b, 5);
    ck_assert_int_eq(pw_pb_put_uint64(&b, 1, 1ull << 28), -ENOBUFS); /* 1 + 5 = 6 > 5 */
    ck_assert_uint_eq(buf_size(&b), 0);
    buf_deinit(&b);

    buf_init(&b, 5);
    ck_assert_int_eq(pw_pb_put_uint64(&b, 1, 1ull << 21), 0); /* exactly 1 + 4 */
    ck_assert_uint_eq(buf_size(&b), 4 + 1);
    ck_assert_int_eq(pw_pb_put_bool(&b, 1, true), -ENOBUFS);
    ck_assert_int_eq(pw_pb_put_varint(&b, 0), -ENOBUFS);
    ck_assert_uint_eq(buf_size(&b), 5); /* unchanged */
    buf_deinit(&b);

    /* begin/end: a body crossing 127 bytes needs one more byte at end. */
    buf_init(&b, 2 + 128);
    pw_pb_mark m;
    ck_assert_int_eq(pw_pb_submsg_begin(&b, 1, &m), 0);
    uint8_t body[128] = {0};
    ck_assert_int_eq(buf_append(&b, body, sizeof body), 0);
    ck_assert_int_eq(pw_pb_submsg_end(&b, &m), -ENOBUFS);
    buf_deinit(&b);
    buf_init(&b, 2 + 127);
    ck_assert_int_eq(pw_pb_submsg_begin(&b, 1, &m), 0);
    ck_assert_int_eq(buf_append(&b, body, 127), 0);
    ck_assert_int_eq(pw_pb_submsg_end(&b, &m), 0);
    buf_deinit(&b);
}
END_TEST

START_TEST(sizes_predicted)
{
    ck_assert_uint_eq(pw_pb_tag_len(1), 1);
    ck_assert_uint_eq(pw_pb_tag_len(15), 1);
    ck_assert_uint_eq(pw_pb_tag_len(16), 2);
    ck_assert_uint_eq(pw_pb_tag_len(2047), 2);
    ck_assert_uint_eq(pw_pb_tag_len(2048), 3);
    ck_assert_uint_eq(pw_pb_tag_len(PW_PB_FIELD_MAX), 5);
    for (unsigned bit = 0; bit < 64; bit++) {
        uint64_t v = 1ull << bit;
        ck_assert_uint_eq(pw_pb_varint_len(v), bit / 7 + 1);
        ck_assert_uint_eq(pw_pb_varint_len(v - 1), bit ? (bit - 1) / 7 + 1 : 1);
    }
}
END_TEST

/* ---- randomized round trip ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

typedef struct rec {
    uint32_t num;
    int kind; /* 0 varint, 1 fixed64, 2 bytes, 3 fixed32 */
    uint64_t v;
    size_t len;
} rec;

START_TEST(random_round_trip)
{
    enum { N = 400 };
    static rec recs[N];
    static uint8_t payload[300];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)rnd();
    for (int iter = 0; iter < 50; iter++) {
        buf_consume(&out, buf_size(&out));
        for (int i = 0; i < N; i++) {
            rec *x = &recs[i];
            x->num = (uint32_t)(rnd() % PW_PB_FIELD_MAX) + 1;
            x->kind = (int)(rnd() % 4);
            x->v = rnd() >> (rnd() % 64);
            x->len = (size_t)(rnd() % sizeof payload);
            switch (x->kind) {
            case 0: ck_assert_int_eq(pw_pb_put_uint64(&out, x->num, x->v), 0); break;
            case 1: ck_assert_int_eq(pw_pb_put_fixed64(&out, x->num, x->v), 0); break;
            case 2: ck_assert_int_eq(pw_pb_put_bytes(&out, x->num, payload, x->len), 0); break;
            case 3: ck_assert_int_eq(pw_pb_put_fixed32(&out, x->num, (uint32_t)x->v), 0); break;
            }
        }
        pw_pb_reader r;
        pw_pb_field f;
        pw_pb_reader_init(&r, buf_begin(&out), buf_size(&out));
        for (int i = 0; i < N; i++) {
            rec *x = &recs[i];
            ck_assert_int_eq(pw_pb_next(&r, &f), 1);
            ck_assert_uint_eq(f.num, x->num);
            switch (x->kind) {
            case 0:
                ck_assert_int_eq(f.wt, PW_PB_WT_VARINT);
                ck_assert_uint_eq(f.u64, x->v);
                break;
            case 1:
                ck_assert_int_eq(f.wt, PW_PB_WT_I64);
                ck_assert_uint_eq(f.u64, x->v);
                break;
            case 2:
                ck_assert_int_eq(f.wt, PW_PB_WT_LEN);
                ck_assert_uint_eq(f.bytes.len, x->len);
                ck_assert_mem_eq(f.bytes.ptr, payload, x->len);
                break;
            case 3:
                ck_assert_int_eq(f.wt, PW_PB_WT_I32);
                ck_assert_uint_eq(f.u64, (uint32_t)x->v);
                break;
            }
        }
        ck_assert_int_eq(pw_pb_next(&r, &f), 0);
        /* Every strict prefix that cuts a field fails cleanly, never reads past the end. */
        size_t cut = (size_t)(rnd() % buf_size(&out));
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf_begin(&out), cut);
        int rc;
        pw_pb_reader_init(&r, copy, cut);
        while ((rc = pw_pb_next(&r, &f)) == 1) {}
        ck_assert(rc == 0 || rc == PW_PB_ERR_TRUNCATED || rc == PW_PB_ERR_LEN_OVERFLOW);
        free(copy);
    }
}
END_TEST

/* The byte-at-a-time decoder pw_pb_read_varint had before its 8-byte word path: the reference
 * the word path must match on every input (value, length and error). */
static int ref_read_varint(const uint8_t *src, size_t len, uint64_t *res)
{
    size_t n = len < PW_PB_VARINT_BYTES_MAX ? len : PW_PB_VARINT_BYTES_MAX;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = src[i];
        if (i == PW_PB_VARINT_BYTES_MAX - 1 && b > 1) return PW_PB_ERR_BAD_VARINT;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *res = v;
            return (int)(i + 1);
        }
    }
    return PW_PB_ERR_TRUNCATED;
}

static void expect_as_ref(const uint8_t *src, size_t len)
{
    uint64_t got = 0xdead, want = 0xbeef;
    int rg = pw_pb_read_varint(src, len, &got);
    int rw = ref_read_varint(src, len, &want);
    ck_assert_int_eq(rg, rw);
    if (rw > 0) ck_assert_uint_eq(got, want);
}

/* Every end position (1..10 bytes, continuation bits set before it), every buffer length 0..12
 * around it, random group bits, a 10th byte of every value, and random bytes: the decoder agrees
 * with the byte loop on value, length, truncation and overflow. */
START_TEST(varint_decode_matches_byte_loop)
{
    uint8_t b[12];
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i < sizeof b; i++) b[i] = (uint8_t)rnd();
        for (size_t end = 0; end < sizeof b; end++) {
            uint8_t c[12];
            memcpy(c, b, sizeof c);
            for (size_t i = 0; i < end; i++) c[i] |= 0x80;
            c[end] &= 0x7f;
            for (size_t len = 0; len <= sizeof c; len++) expect_as_ref(c, len);
        }
        for (size_t len = 0; len <= sizeof b; len++) expect_as_ref(b, len);
    }
    uint8_t ten[12] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0};
    for (int last = 0; last < 256; last++) {
        ten[9] = (uint8_t)last;
        for (size_t len = 8; len <= sizeof ten; len++) expect_as_ref(ten, len);
    }
    /* Encoded values of every bit length decode back. */
    for (unsigned bits = 0; bits <= 64; bits++) {
        uint64_t v = bits == 64 ? ~0ull : bits ? (1ull << bits) - 1 : 0, got = 0;
        buf_consume(&out, buf_size(&out));
        ck_assert_int_eq(pw_pb_put_varint(&out, v), 0);
        uint8_t wide[16] = {0};
        memcpy(wide, buf_begin(&out), buf_size(&out));
        ck_assert_int_eq(pw_pb_read_varint(wide, sizeof wide, &got), (int)buf_size(&out));
        ck_assert_uint_eq(got, v);
    }
}
END_TEST

static Suite *pb_suite(void)
{
    Suite *s = suite_create("pw_pb");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, varint_boundaries);
    tcase_add_test(tc, varint_overlong_and_overflow);
    tcase_add_test(tc, known_bytes);
    tcase_add_test(tc, int32_negative_is_ten_bytes);
    tcase_add_test(tc, zigzag);
    tcase_add_test(tc, floats);
    tcase_add_test(tc, every_wire_type);
    tcase_add_test(tc, bad_wire_types_and_groups);
    tcase_add_test(tc, field_numbers);
    tcase_add_test(tc, truncated_values);
    tcase_add_test(tc, length_beyond_buffer);
    tcase_add_test(tc, unknown_fields_skipped);
    tcase_add_test(tc, nested_messages);
    tcase_add_test(tc, submsg_after_consume_and_realloc);
    tcase_add_test(tc, empty_submsg);
    tcase_add_test(tc, packed_fields);
    tcase_add_test(tc, cap_is_enforced);
    tcase_add_test(tc, sizes_predicted);
    tcase_add_test(tc, random_round_trip);
    tcase_add_test(tc, varint_decode_matches_byte_loop);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ts_run_suite(pb_suite()); }
