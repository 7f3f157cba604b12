/* Unit tests for proto_wire/pw_grpc_msg: gRPC length-prefixed message (de)framing. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_msg.h"
#include "proto_wire/pw_pb.h"
#include "ts_main.h"

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* A stream of messages with known sizes and contents. */
#define MAX_MSGS 64
typedef struct stream {
    buf wire;
    size_t n;
    size_t len[MAX_MSGS];
    uint8_t seed[MAX_MSGS];
} stream;

static void stream_build(stream *s, size_t n, const size_t *lens)
{
    buf_init(&s->wire, 1 << 26);
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        s->len[i] = lens[i];
        s->seed[i] = (uint8_t)(i * 37 + 1);
        pw_grpc_msg_mark m;
        ck_assert_int_eq(pw_grpc_msg_begin(&s->wire, &m), 0);
        uint8_t *p = NULL;
        if (lens[i]) ck_assert_int_eq(buf_reserve(&s->wire, lens[i], &p), 0);
        for (size_t k = 0; k < lens[i]; k++) p[k] = (uint8_t)(s->seed[i] + k);
        buf_commit(&s->wire, lens[i]);
        ck_assert_int_eq(pw_grpc_msg_end(&s->wire, &m, false), 0);
    }
}

static void check_msg(const stream *s, size_t i, const pw_grpc_msg *m)
{
    ck_assert_uint_lt(i, s->n);
    ck_assert_ptr_nonnull(m->ptr);
    ck_assert_uint_eq(m->len, s->len[i]);
    ck_assert(!m->compressed);
    /* One assertion per message: Check records every passing assertion, which is slow. */
    size_t bad = 0;
    for (size_t k = 0; k < m->len; k++) bad += m->ptr[k] != (uint8_t)(s->seed[i] + k);
    ck_assert_uint_eq(bad, 0);
}

/* Feeds s->wire cut at the given points; returns how many messages were copied. */
static size_t feed_split(const stream *s, pw_grpc_deframer *d, const size_t *cuts, size_t ncuts)
{
    const uint8_t *all = buf_begin(&s->wire);
    size_t total = buf_size(&s->wire), pos = 0, got = 0, copied = 0;
    for (size_t c = 0; c <= ncuts; c++) {
        size_t end = c < ncuts ? cuts[c] : total;
        /* Each slice lives in its own heap block so ASan catches reads outside it. */
        size_t n = end - pos;
        uint8_t *slice = malloc(n ? n : 1);
        memcpy(slice, all + pos, n);
        const uint8_t *p = slice;
        pw_grpc_msg m;
        int rc;
        while ((rc = pw_grpc_deframe(d, &p, &n, &m)) == 1) {
            check_msg(s, got++, &m);
            copied += m.copied;
            if (!m.copied && m.len) ck_assert(m.ptr >= slice && m.ptr + m.len <= slice + end - pos);
        }
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(n, 0);
        free(slice);
        pos = end;
    }
    ck_assert_uint_eq(got, s->n);
    ck_assert_int_eq(pw_grpc_deframer_finish(d), 0);
    return copied;
}

START_TEST(several_per_slice_zero_copy)
{
    stream s;
    const size_t lens[] = {3, 0, 200, 1, 0};
    stream_build(&s, 5, lens);
    ck_assert_mem_eq(buf_begin(&s.wire), "\0\0\0\0\3", 5);
    pw_grpc_deframer d;
    pw_grpc_deframer_init(&d, 0);
    ck_assert_uint_eq(d.max_msg_bytes, PW_GRPC_MAX_MSG_BYTES_DEFAULT);
    ck_assert_uint_eq(feed_split(&s, &d, NULL, 0), 0); /* all views into the slice */
    ck_assert_ptr_null(d.body);                        /* nothing allocated */
    pw_grpc_deframer_deinit(&d);
    buf_deinit(&s.wire);
}
END_TEST

START_TEST(byte_by_byte)
{
    stream s;
    const size_t lens[] = {0, 1, 5, 0, 130, 70000, 2};
    stream_build(&s, 7, lens);
    size_t total = buf_size(&s.wire);
    size_t *cuts = malloc(total * sizeof *cuts);
    for (size_t i = 0; i < total - 1; i++) cuts[i] = i + 1;
    pw_grpc_deframer d;
    pw_grpc_deframer_init(&d, 0);
    /* Every non-empty message was split, so each is assembled; empty ones are not copied. */
    ck_assert_uint_eq(feed_split(&s, &d, cuts, total - 1), 5);
    free(cuts);
    pw_grpc_deframer_deinit(&d);
    buf_deinit(&s.wire);
}
END_TEST

START_TEST(random_splits)
{
    for (int iter = 0; iter < 300; iter++) {
        rng_state = 0x1234567ull + (uint64_t)iter * 7919;
        stream s;
        size_t lens[MAX_MSGS];
        size_t n = 1 + (size_t)(rnd() % MAX_MSGS);
        for (size_t i = 0; i < n; i++)
            lens[i] = rnd() % 4 ? (size_t)(rnd() % 300) : (size_t)(rnd() % 20000);
        stream_build(&s, n, lens);
        size_t total = buf_size(&s.wire);
        size_t ncuts = (size_t)(rnd() % 40);
        size_t cuts[40];
        for (size_t i = 0; i < ncuts; i++) cuts[i] = (size_t)(rnd() % (total + 1));
        /* sort (insertion) so slices are in order; duplicates give empty slices */
        for (size_t i = 1; i < ncuts; i++)
            for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        pw_grpc_deframer d;
        pw_grpc_deframer_init(&d, 20000);
        feed_split(&s, &d, cuts, ncuts);
        pw_grpc_deframer_deinit(&d);
        buf_deinit(&s.wire);
    }
}
END_TEST

static int feed_all(pw_grpc_deframer *d, const uint8_t *p, size_t n, pw_grpc_msg *m)
{
    return pw_grpc_deframe(d, &p, &n, m);
}

START_TEST(max_size_exact_and_over)
{
    enum { MAX = 1000 };
    uint8_t *wire = calloc(1, 5 + MAX + 1);
    pw_grpc_msg m;
    pw_grpc_deframer d;

    /* Exactly MAX, split so it must be assembled. */
    pw_grpc_msg_put_prefix(wire, false, MAX);
    pw_grpc_deframer_init(&d, MAX);
    ck_assert_int_eq(feed_all(&d, wire, 5 + 10, &m), 0);
    ck_assert_uint_eq(d.body_cap, MAX); /* exactly one message, not more */
    ck_assert_int_eq(feed_all(&d, wire + 15, MAX - 10, &m), 1);
    ck_assert_uint_eq(m.len, MAX);
    ck_assert(m.copied);
    pw_grpc_deframer_deinit(&d);

    /* MAX + 1: rejected as soon as the prefix is complete, before any body is buffered. */
    pw_grpc_msg_put_prefix(wire, false, MAX + 1);
    pw_grpc_deframer_init(&d, MAX);
    ck_assert_int_eq(feed_all(&d, wire, 4, &m), 0);
    const uint8_t *p = wire + 4;
    size_t n = 1 + MAX + 1;
    ck_assert_int_eq(pw_grpc_deframe(&d, &p, &n, &m), PW_GRPC_DEFRAME_ERR_TOO_LARGE);
    ck_assert_uint_eq(n, MAX + 1); /* the body was not consumed */
    ck_assert_ptr_null(d.body);    /* nor buffered */
    ck_assert_int_eq(pw_grpc_deframe(&d, &p, &n, &m), PW_GRPC_DEFRAME_ERR_TOO_LARGE); /* sticky */
    ck_assert_int_eq(pw_grpc_deframer_finish(&d), PW_GRPC_DEFRAME_ERR_TOO_LARGE);
    ck_assert_int_eq(pw_grpc_deframe_err_status(PW_GRPC_DEFRAME_ERR_TOO_LARGE),
                     PW_GRPC_RESOURCE_EXHAUSTED);
    pw_grpc_deframer_deinit(&d);

    /* A 4 GiB - 1 length against the default limit: rejected, nothing allocated. */
    pw_grpc_msg_put_prefix(wire, false, UINT32_MAX);
    pw_grpc_deframer_init(&d, 0);
    ck_assert_int_eq(feed_all(&d, wire, 5, &m), PW_GRPC_DEFRAME_ERR_TOO_LARGE);
    ck_assert_ptr_null(d.body);
    pw_grpc_deframer_deinit(&d);
    free(wire);
}
END_TEST

START_TEST(default_max_accepted)
{
    size_t max = PW_GRPC_MAX_MSG_BYTES_DEFAULT;
    uint8_t *wire = calloc(1, 5 + max + 5);
    pw_grpc_msg_put_prefix(wire, false, (uint32_t)max);
    wire[5 + max - 1] = 0xab;
    pw_grpc_msg_put_prefix(wire + 5 + max, false, (uint32_t)max + 1);
    pw_grpc_deframer d;
    pw_grpc_deframer_init(&d, 0);
    pw_grpc_msg m;
    ck_assert_int_eq(feed_all(&d, wire, 5 + max / 2, &m), 0);
    const uint8_t *p = wire + 5 + max / 2;
    size_t n = max - max / 2 + 5;
    ck_assert_int_eq(pw_grpc_deframe(&d, &p, &n, &m), 1);
    ck_assert_uint_eq(m.len, max);
    ck_assert_uint_eq(m.ptr[max - 1], 0xab);
    ck_assert_int_eq(pw_grpc_deframe(&d, &p, &n, &m), PW_GRPC_DEFRAME_ERR_TOO_LARGE);
    pw_grpc_deframer_deinit(&d);
    free(wire);
}
END_TEST

START_TEST(compressed_flag)
{
    uint8_t wire[8];
    pw_grpc_msg_put_prefix(wire, true, 3);
    memcpy(wire + 5, "abc", 3);
    ck_assert_uint_eq(wire[0], 1);
    pw_grpc_msg m;
    pw_grpc_deframer d;

    pw_grpc_deframer_init(&d, 0); /* no grpc-encoding negotiated */
    ck_assert_int_eq(feed_all(&d, wire, sizeof wire, &m), PW_GRPC_DEFRAME_ERR_COMPRESSED);
    ck_assert_int_eq(pw_grpc_deframe_err_status(PW_GRPC_DEFRAME_ERR_COMPRESSED), PW_GRPC_INTERNAL);
    pw_grpc_deframer_deinit(&d);

    pw_grpc_deframer_init(&d, 0);
    pw_grpc_deframer_set_compression(&d, true);
    ck_assert_int_eq(feed_all(&d, wire, sizeof wire, &m), 1);
    ck_assert(m.compressed);
    ck_assert_uint_eq(m.len, 3);
    ck_assert_mem_eq(m.ptr, "abc", 3);
    /* Uncompressed messages stay legal after negotiation. */
    pw_grpc_msg_put_prefix(wire, false, 3);
    ck_assert_int_eq(feed_all(&d, wire, sizeof wire, &m), 1);
    ck_assert(!m.compressed);
    pw_grpc_deframer_deinit(&d);

    /* Flag values other than 0/1 are invalid even with an encoding. */
    const uint8_t flags[] = {2, 0x80, 0xff};
    for (size_t i = 0; i < sizeof flags; i++) {
        wire[0] = flags[i];
        pw_grpc_deframer_init(&d, 0);
        pw_grpc_deframer_set_compression(&d, true);
        ck_assert_int_eq(feed_all(&d, wire, sizeof wire, &m), PW_GRPC_DEFRAME_ERR_BAD_FLAG);
        ck_assert_int_eq(pw_grpc_deframe_err_status(PW_GRPC_DEFRAME_ERR_BAD_FLAG),
                         PW_GRPC_INTERNAL);
        pw_grpc_deframer_deinit(&d);
    }
}
END_TEST

START_TEST(trailing_partial_at_end)
{
    uint8_t wire[5 + 4];
    pw_grpc_msg_put_prefix(wire, false, 4);
    memcpy(wire + 5, "wxyz", 4);
    pw_grpc_msg m;
    pw_grpc_deframer d;
    for (size_t cut = 0; cut <= sizeof wire; cut++) {
        pw_grpc_deframer_init(&d, 0);
        int rc = feed_all(&d, wire, cut, &m);
        ck_assert_int_eq(rc, cut == sizeof wire ? 1 : 0);
        ck_assert_int_eq(pw_grpc_deframer_at_boundary(&d), cut == 0 || cut == sizeof wire);
        int want = (cut == 0 || cut == sizeof wire) ? 0 : PW_GRPC_DEFRAME_ERR_TRUNCATED;
        ck_assert_int_eq(pw_grpc_deframer_finish(&d), want);
        if (want) {
            /* Sticky, and distinct from the other errors. */
            ck_assert_int_eq(feed_all(&d, wire, sizeof wire, &m), PW_GRPC_DEFRAME_ERR_TRUNCATED);
            ck_assert_int_eq(pw_grpc_deframe_err_status(want), PW_GRPC_INTERNAL);
        }
        pw_grpc_deframer_deinit(&d);
    }
    ck_assert_str_eq(pw_grpc_deframe_strerror(PW_GRPC_DEFRAME_ERR_TRUNCATED),
                     "stream ended inside a message");
}
END_TEST

static int fail_alloc_calls;
static void *failing_realloc(void *p, size_t n)
{
    fail_alloc_calls++;
    (void)p;
    (void)n;
    return NULL;
}

START_TEST(allocation_failure)
{
    uint8_t wire[5 + 10] = {0};
    pw_grpc_msg_put_prefix(wire, false, 10);
    pw_grpc_msg m;
    pw_grpc_deframer d;
    pw_grpc_deframer_init(&d, 0);
    d.realloc_fn = failing_realloc;
    /* Whole message in the slice: zero copy, no allocation. */
    ck_assert_int_eq(feed_all(&d, wire, sizeof wire, &m), 1);
    ck_assert_int_eq(fail_alloc_calls, 0);
    /* Split: needs the assembly buffer, which fails. */
    ck_assert_int_eq(feed_all(&d, wire, 7, &m), -ENOMEM);
    ck_assert_int_eq(fail_alloc_calls, 1);
    ck_assert_int_eq(feed_all(&d, wire, 7, &m), -ENOMEM); /* sticky */
    ck_assert_int_eq(pw_grpc_deframe_err_status(-ENOMEM), PW_GRPC_RESOURCE_EXHAUSTED);
    pw_grpc_deframer_deinit(&d);
}
END_TEST

START_TEST(large_buffer_released)
{
    size_t big = PW_GRPC_DEFRAMER_KEEP_BYTES + 1, small = 100;
    uint8_t *wire = calloc(1, 5 + big);
    pw_grpc_msg m;
    pw_grpc_deframer d;
    pw_grpc_deframer_init(&d, 0);
    pw_grpc_msg_put_prefix(wire, false, (uint32_t)big);
    ck_assert_int_eq(feed_all(&d, wire, 6, &m), 0);
    ck_assert_int_eq(feed_all(&d, wire + 6, big - 1, &m), 1);
    ck_assert(m.copied);
    ck_assert_ptr_eq(m.ptr, d.body); /* the view stays valid until the next call */
    ck_assert_int_eq(feed_all(&d, NULL, 0, &m), 0);
    ck_assert_ptr_null(d.body); /* released at the next call */
    /* A small assembly buffer is kept for reuse. */
    pw_grpc_msg_put_prefix(wire, false, (uint32_t)small);
    ck_assert_int_eq(feed_all(&d, wire, 6, &m), 0);
    ck_assert_int_eq(feed_all(&d, wire + 6, small - 1, &m), 1);
    const uint8_t *kept = d.body;
    ck_assert_int_eq(feed_all(&d, NULL, 0, &m), 0);
    ck_assert_ptr_eq(d.body, kept);
    pw_grpc_deframer_deinit(&d);
    free(wire);
}
END_TEST

/* ---- encoder ---- */

START_TEST(encode_known_bytes)
{
    buf b;
    buf_init(&b, 64);
    ck_assert_int_eq(pw_grpc_msg_encode(&b, (const uint8_t *)"hi", 2, false), 0);
    ck_assert_int_eq(pw_grpc_msg_encode(&b, NULL, 0, true), 0);
    ck_assert_uint_eq(buf_size(&b), 7 + 5);
    ck_assert_mem_eq(buf_begin(&b), "\x00\x00\x00\x00\x02hi\x01\x00\x00\x00\x00", 12);
    uint8_t pre[5];
    pw_grpc_msg_put_prefix(pre, false, 0x01020304);
    ck_assert_mem_eq(pre, "\x00\x01\x02\x03\x04", 5);
    buf_deinit(&b);

    /* Cap: refused whole, buf unchanged. */
    buf_init(&b, 10);
    ck_assert_int_eq(pw_grpc_msg_encode(&b, (const uint8_t *)"123456", 6, false), -ENOBUFS);
    ck_assert_uint_eq(buf_size(&b), 0);
    ck_assert_int_eq(pw_grpc_msg_encode(&b, (const uint8_t *)"12345", 5, false), 0);
    pw_grpc_msg_mark mk;
    ck_assert_int_eq(pw_grpc_msg_begin(&b, &mk), -ENOBUFS);
    buf_deinit(&b);
}
END_TEST

START_TEST(encode_in_place_protobuf)
{
    /* One pass: reserve the prefix, encode the protobuf body after it, patch the length. */
    buf b;
    buf_init(&b, 1 << 20);
    ck_assert_int_eq(buf_append(&b, "xyz", 3), 0);
    buf_consume(&b, 2); /* marks are relative to buf_begin */
    pw_grpc_msg_mark mk;
    ck_assert_int_eq(pw_grpc_msg_begin(&b, &mk), 0);
    ck_assert_int_eq(pw_pb_put_uint32(&b, 1, 150), 0);
    uint8_t big[3000];
    memset(big, 'q', sizeof big);
    ck_assert_int_eq(pw_pb_put_bytes(&b, 2, big, sizeof big), 0); /* forces growth */
    ck_assert_int_eq(pw_grpc_msg_end(&b, &mk, false), 0);
    size_t body = 3 + 1 + 2 + sizeof big;
    ck_assert_uint_eq(buf_size(&b), 1 + 5 + body);
    ck_assert_uint_eq(buf_begin(&b)[0], 'z');
    buf_consume(&b, 1);

    pw_grpc_deframer d;
    pw_grpc_deframer_init(&d, 0);
    pw_grpc_msg m;
    ck_assert_int_eq(feed_all(&d, buf_begin(&b), buf_size(&b), &m), 1);
    ck_assert_uint_eq(m.len, body);
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, m.ptr, m.len);
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert_uint_eq(f.u64, 150);
    ck_assert_int_eq(pw_pb_next(&r, &f), 1);
    ck_assert_uint_eq(f.bytes.len, sizeof big);
    ck_assert_int_eq(pw_pb_next(&r, &f), 0);
    pw_grpc_deframer_deinit(&d);
    buf_deinit(&b);
}
END_TEST

static Suite *msg_suite(void)
{
    Suite *s = suite_create("pw_grpc_msg");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, several_per_slice_zero_copy);
    tcase_add_test(tc, byte_by_byte);
    tcase_add_test(tc, random_splits);
    tcase_add_test(tc, max_size_exact_and_over);
    tcase_add_test(tc, default_max_accepted);
    tcase_add_test(tc, compressed_flag);
    tcase_add_test(tc, trailing_partial_at_end);
    tcase_add_test(tc, allocation_failure);
    tcase_add_test(tc, large_buffer_released);
    tcase_add_test(tc, encode_known_bytes);
    tcase_add_test(tc, encode_in_place_protobuf);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ts_run_suite(msg_suite()); }
