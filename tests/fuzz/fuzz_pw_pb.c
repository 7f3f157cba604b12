/* Fuzz target for proto_wire/pw_pb.c. Each input drives three checks:
 *  1. Walk: the input as a message; every LEN field is tried as a sub-message (recursively, up
 *     to DEPTH_MAX) and as packed varints/fixed32/fixed64. No crash, no read outside the input
 *     (ASan), every view inside its parent, errors sticky.
 *  2. Re-encode: a message that parses cleanly is encoded again with pw_pb_put_* and
 *     pw_pb_submsg_begin/end (LEN fields that parse cleanly become nested sub-messages); the
 *     size must equal the size-first prediction (pw_pb_len_field_len), never exceed the input
 *     (canonical varints are never longer), and the result must walk to the same fields.
 *  3. Scalars: zigzag and int32 semantics invert on every decoded varint. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_pb.h"

#define CHECK(c) ((c) ? (void)0 : __builtin_trap())
#define DEPTH_MAX 16 /* deep enough for real schemas; bounds recursion and work per input */

static volatile uint64_t sink; /* keeps reads from being optimized away */

static bool is_err(int rc)
{
    return rc == PW_PB_ERR_TRUNCATED || rc == PW_PB_ERR_BAD_VARINT ||
           rc == PW_PB_ERR_BAD_WIRE_TYPE || rc == PW_PB_ERR_BAD_FIELD ||
           rc == PW_PB_ERR_LEN_OVERFLOW;
}

static void walk_packed(pw_pb_bytes v)
{
    pw_pb_packed it;
    uint64_t x;
    int rc;
    long n = 0;
    pw_pb_packed_init(&it, v);
    while ((rc = pw_pb_packed_next_varint(&it, &x)) == 1) {
        sink += x;
        n++;
    }
    CHECK(rc == 0 || rc == PW_PB_ERR_TRUNCATED || rc == PW_PB_ERR_BAD_VARINT);
    long count = pw_pb_packed_varint_count(v);
    if (rc == 0) CHECK(count == n);
    pw_pb_packed_init(&it, v);
    while ((rc = pw_pb_packed_next_fixed32(&it, &x)) == 1) sink += x;
    CHECK(rc == (v.len % 4 ? PW_PB_ERR_TRUNCATED : 0));
    pw_pb_packed_init(&it, v);
    while ((rc = pw_pb_packed_next_fixed64(&it, &x)) == 1) sink += x;
    CHECK(rc == (v.len % 8 ? PW_PB_ERR_TRUNCATED : 0));
}

/* Returns the reader's final result (0 or an error); counts fields. */
static int walk(const uint8_t *p, size_t n, int depth, size_t *fields)
{
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    pw_pb_reader_init(&r, p, n);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        (*fields)++;
        CHECK(f.num >= 1 && f.num <= PW_PB_FIELD_MAX);
        switch (f.wt) {
        case PW_PB_WT_VARINT:
            CHECK(pw_pb_zigzag_encode64(pw_pb_zigzag_decode64(f.u64)) == f.u64);
            CHECK(pw_pb_zigzag_encode32(pw_pb_as_sint32(f.u64)) == (uint32_t)f.u64);
            CHECK((uint32_t)pw_pb_as_int32(f.u64) == (uint32_t)f.u64);
            sink += f.u64;
            break;
        case PW_PB_WT_I32:
            CHECK(f.u64 <= UINT32_MAX);
            CHECK(pw_pb_float_bits(pw_pb_as_float(f.u64)) == (uint32_t)f.u64);
            break;
        case PW_PB_WT_I64: CHECK(pw_pb_double_bits(pw_pb_as_double(f.u64)) == f.u64); break;
        case PW_PB_WT_LEN: {
            CHECK(f.bytes.ptr >= p && f.bytes.ptr + f.bytes.len <= p + n);
            uint32_t sum = 0;
            for (size_t i = 0; i < f.bytes.len; i++) sum += f.bytes.ptr[i];
            sink += sum;
            walk_packed(f.bytes);
            size_t sub = 0;
            if (depth < DEPTH_MAX) (void)walk(f.bytes.ptr, f.bytes.len, depth + 1, &sub);
            break;
        }
        default: CHECK(0); /* groups and 6/7 are never yielded */
        }
    }
    CHECK(rc == 0 || is_err(rc));
    if (rc) CHECK(pw_pb_next(&r, &f) == rc); /* sticky */
    return rc;
}

/* True when (p, n) parses cleanly as a message down to its leaves within the depth limit as
 * re-encode below will treat it. */
static bool parses(const uint8_t *p, size_t n)
{
    size_t fields = 0;
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    pw_pb_reader_init(&r, p, n);
    while ((rc = pw_pb_next(&r, &f)) == 1) fields++;
    return rc == 0 && fields > 0;
}

/* Re-encodes (p, n), which parses cleanly, into out; returns the predicted encoded size. */
static size_t reencode(buf *out, const uint8_t *p, size_t n, int depth)
{
    pw_pb_reader r;
    pw_pb_field f;
    size_t predicted = 0;
    pw_pb_reader_init(&r, p, n);
    while (pw_pb_next(&r, &f) == 1) {
        size_t before = buf_size(out), want = 0;
        switch (f.wt) {
        case PW_PB_WT_VARINT:
            CHECK(pw_pb_put_uint64(out, f.num, f.u64) == 0);
            want = pw_pb_tag_len(f.num) + pw_pb_varint_len(f.u64);
            break;
        case PW_PB_WT_I32:
            CHECK(pw_pb_put_fixed32(out, f.num, (uint32_t)f.u64) == 0);
            want = pw_pb_tag_len(f.num) + 4;
            break;
        case PW_PB_WT_I64:
            CHECK(pw_pb_put_fixed64(out, f.num, f.u64) == 0);
            want = pw_pb_tag_len(f.num) + 8;
            break;
        case PW_PB_WT_LEN:
            if (depth < DEPTH_MAX && parses(f.bytes.ptr, f.bytes.len)) {
                pw_pb_mark m;
                CHECK(pw_pb_submsg_begin(out, f.num, &m) == 0);
                size_t body = reencode(out, f.bytes.ptr, f.bytes.len, depth + 1);
                CHECK(pw_pb_submsg_end(out, &m) == 0);
                want = pw_pb_len_field_len(f.num, body);
            } else {
                CHECK(pw_pb_put_bytes(out, f.num, f.bytes.ptr, f.bytes.len) == 0);
                want = pw_pb_len_field_len(f.num, f.bytes.len);
            }
            break;
        default: CHECK(0);
        }
        CHECK(buf_size(out) - before == want);
        predicted += want;
    }
    return predicted;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t fields = 0;
    int rc = walk(data, size, 0, &fields);
    if (rc != 0) return 0;

    /* Clean parse: re-encode. Canonical tags, varints and lengths are never longer than what was
     * read, so the output fits in the input's size. */
    buf out;
    buf_init(&out, size + 16);
    size_t predicted = reencode(&out, data, size, 0);
    CHECK(buf_size(&out) == predicted);
    CHECK(predicted <= size);
    size_t fields2 = 0;
    /* buf_begin of a never-allocated buf is NULL + 0: walk the input's pointer instead. */
    const uint8_t *ob = buf_size(&out) ? buf_begin(&out) : data;
    CHECK(walk(ob, buf_size(&out), 0, &fields2) == 0);
    CHECK(fields2 == fields);
    buf_deinit(&out);
    return 0;
}
