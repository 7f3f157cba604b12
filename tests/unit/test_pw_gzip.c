/* Unit tests for proto_wire/pw_gzip: bounded gzip for gRPC messages. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_gzip.h"
#include "ts_main.h"

/* "hello, grpc" compressed by another gzip implementation (Python's gzip module, mtime 0). */
static const uint8_t hello_gz[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7,
    0x51, 0x48, 0x2f, 0x2a, 0x48, 0x06, 0x00, 0x34, 0x22, 0x1c, 0x4d, 0x0b, 0x00, 0x00, 0x00,
};

static pw_gzip_ctx ctx;
static void setup(void) { pw_gzip_ctx_init(&ctx, -1); }
static void teardown(void) { pw_gzip_ctx_deinit(&ctx); }

static uint8_t *pattern(size_t n, unsigned kind)
{
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        /* kind 0: text-like (compressible), 1: random (incompressible) */
        p[i] = kind ? (uint8_t)x : (uint8_t)("abcdefgh  \n"[x % 11]);
    }
    return p;
}

START_TEST(decodes_foreign_gzip)
{
    buf out;
    buf_init(&out, 1024);
    ck_assert_int_eq(pw_gzip_decompress(&ctx, hello_gz, sizeof hello_gz, 100, &out), 0);
    ck_assert_uint_eq(buf_size(&out), 11);
    ck_assert_mem_eq(buf_begin(&out), "hello, grpc", 11);
    /* Exactly the size is allowed; one less is a bomb by definition. */
    buf_consume(&out, buf_size(&out));
    ck_assert_int_eq(pw_gzip_decompress(&ctx, hello_gz, sizeof hello_gz, 11, &out), 0);
    buf_consume(&out, buf_size(&out));
    ck_assert_int_eq(pw_gzip_decompress(&ctx, hello_gz, sizeof hello_gz, 10, &out),
                     PW_GZIP_ERR_TOO_LARGE);
    ck_assert_uint_eq(buf_size(&out), 0);
    buf_deinit(&out);
}
END_TEST

START_TEST(round_trip_sizes)
{
    const size_t sizes[] = {0, 1, 100, 65535, 65536, 65537, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (unsigned kind = 0; kind < 2; kind++) {
            size_t n = sizes[i];
            uint8_t *src = pattern(n, kind);
            buf z, back;
            buf_init(&z, 4 << 20);
            buf_init(&back, 4 << 20);
            ck_assert_int_eq(pw_gzip_compress(&ctx, src, n, &z), 0);
            ck_assert_uint_ge(buf_size(&z), 18); /* 10-byte header + 8-byte trailer at least */
            ck_assert_uint_eq(buf_begin(&z)[0], 0x1f);
            ck_assert_uint_eq(buf_begin(&z)[1], 0x8b);
            if (kind == 0 && n >= 65536) ck_assert_uint_lt(buf_size(&z), n / 2);
            ck_assert_int_eq(pw_gzip_decompress(&ctx, buf_begin(&z), buf_size(&z), n, &back), 0);
            ck_assert_uint_eq(buf_size(&back), n);
            ck_assert(n == 0 || memcmp(buf_begin(&back), src, n) == 0);
            /* zlib itself (an independent decoder configuration) agrees. */
            uint8_t *chk = malloc(n + 1);
            z_stream s = {0};
            ck_assert_int_eq(inflateInit2(&s, 16 + MAX_WBITS), Z_OK);
            s.next_in = (Bytef *)buf_begin(&z);
            s.avail_in = (uInt)buf_size(&z);
            s.next_out = chk;
            s.avail_out = (uInt)(n + 1);
            ck_assert_int_eq(inflate(&s, Z_FINISH), Z_STREAM_END);
            ck_assert_uint_eq(s.total_out, n);
            inflateEnd(&s);
            free(chk);
            free(src);
            buf_deinit(&z);
            buf_deinit(&back);
        }
    }
}
END_TEST

START_TEST(appends_and_rolls_back)
{
    buf z, out;
    buf_init(&z, 1 << 16);
    buf_init(&out, 1 << 16);
    ck_assert_int_eq(buf_append(&z, "PFX", 3), 0);
    ck_assert_int_eq(pw_gzip_compress(&ctx, (const uint8_t *)"payload", 7, &z), 0);
    ck_assert_mem_eq(buf_begin(&z), "PFX", 3);
    ck_assert_int_eq(buf_append(&out, "keep", 4), 0);
    ck_assert_int_eq(pw_gzip_decompress(&ctx, buf_begin(&z) + 3, buf_size(&z) - 3, 7, &out), 0);
    ck_assert_uint_eq(buf_size(&out), 11);
    ck_assert_mem_eq(buf_begin(&out), "keeppayload", 11);
    /* An error leaves the previous contents exactly. */
    ck_assert_int_eq(pw_gzip_decompress(&ctx, buf_begin(&z) + 3, buf_size(&z) - 4, 7, &out),
                     PW_GZIP_ERR_CORRUPT);
    ck_assert_uint_eq(buf_size(&out), 11);
    ck_assert_int_eq(pw_gzip_decompress(&ctx, buf_begin(&z) + 3, buf_size(&z) - 3, 6, &out),
                     PW_GZIP_ERR_TOO_LARGE);
    ck_assert_uint_eq(buf_size(&out), 11);
    buf_deinit(&z);
    buf_deinit(&out);
}
END_TEST

START_TEST(bomb_is_bounded)
{
    /* 64 MiB of zeros compress to ~64 KiB; decompressing with a 1 MiB cap must stop there. */
    size_t big = 64u << 20, cap = 1u << 20;
    uint8_t *zeros = calloc(1, big);
    buf z;
    buf_init(&z, 1 << 20);
    ck_assert_int_eq(pw_gzip_compress(&ctx, zeros, big, &z), 0);
    free(zeros);
    ck_assert_uint_lt(buf_size(&z), 256 * 1024);

    buf out;
    buf_init(&out, 16u << 20); /* the buf itself would allow more: max_out is the bound */
    ck_assert_int_eq(pw_gzip_decompress(&ctx, buf_begin(&z), buf_size(&z), cap, &out),
                     PW_GZIP_ERR_TOO_LARGE);
    ck_assert_uint_eq(buf_size(&out), 0);
    ck_assert_uint_le(out.len, cap); /* never allocated beyond the cap */
    buf_deinit(&out);

    /* When the buf's own cap is the tighter bound, the error is -ENOBUFS, same memory bound. */
    buf_init(&out, 512 * 1024);
    ck_assert_int_eq(pw_gzip_decompress(&ctx, buf_begin(&z), buf_size(&z), cap, &out), -ENOBUFS);
    ck_assert_uint_le(out.len, 512 * 1024);
    ck_assert_uint_eq(buf_size(&out), 0);
    buf_deinit(&out);
    buf_deinit(&z);
}
END_TEST

START_TEST(corrupt_input_rejected)
{
    buf out;
    buf_init(&out, 1 << 20);
    uint8_t *src = pattern(5000, 0);
    buf z;
    buf_init(&z, 1 << 20);
    ck_assert_int_eq(pw_gzip_compress(&ctx, src, 5000, &z), 0);
    size_t zn = buf_size(&z);
    uint8_t *copy = malloc(zn + 16);

    /* Empty input; not gzip at all. */
    ck_assert_int_eq(pw_gzip_decompress(&ctx, hello_gz, 0, 100, &out), PW_GZIP_ERR_CORRUPT);
    ck_assert_int_eq(pw_gzip_decompress(&ctx, (const uint8_t *)"hello world", 11, 100, &out),
                     PW_GZIP_ERR_CORRUPT);
    /* Every truncation fails (the trailer's CRC and length are required). */
    for (size_t cut = 1; cut < zn; cut += (cut < 40 ? 1 : 97)) {
        memcpy(copy, buf_begin(&z), cut);
        ck_assert_int_eq(pw_gzip_decompress(&ctx, copy, cut, 1 << 20, &out), PW_GZIP_ERR_CORRUPT);
        ck_assert_uint_eq(buf_size(&out), 0);
    }
    /* A flipped bit in the data, the CRC, or the length. */
    const size_t flips[] = {zn / 2, zn - 8, zn - 1};
    for (size_t i = 0; i < 3; i++) {
        memcpy(copy, buf_begin(&z), zn);
        copy[flips[i]] ^= 0x10;
        ck_assert_int_eq(pw_gzip_decompress(&ctx, copy, zn, 1 << 20, &out), PW_GZIP_ERR_CORRUPT);
        ck_assert_uint_eq(buf_size(&out), 0);
    }
    /* Trailing garbage after a complete member. */
    memcpy(copy, buf_begin(&z), zn);
    memcpy(copy + zn, "garbage", 7);
    ck_assert_int_eq(pw_gzip_decompress(&ctx, copy, zn + 7, 1 << 20, &out), PW_GZIP_ERR_CORRUPT);
    /* A zlib-wrapped (not gzip) stream. */
    uLongf zl = (uLongf)(zn + 16);
    ck_assert_int_eq(compress(copy, &zl, src, 5000), Z_OK);
    ck_assert_int_eq(pw_gzip_decompress(&ctx, copy, zl, 1 << 20, &out), PW_GZIP_ERR_CORRUPT);
    /* The context still works afterwards. */
    ck_assert_int_eq(pw_gzip_decompress(&ctx, buf_begin(&z), zn, 5000, &out), 0);
    ck_assert(memcmp(buf_begin(&out), src, 5000) == 0);
    free(copy);
    free(src);
    buf_deinit(&z);
    buf_deinit(&out);
}
END_TEST

START_TEST(concatenated_members)
{
    /* RFC 1952: a gzip file may hold several members; their outputs concatenate. */
    uint8_t two[2 * sizeof hello_gz];
    memcpy(two, hello_gz, sizeof hello_gz);
    memcpy(two + sizeof hello_gz, hello_gz, sizeof hello_gz);
    buf out;
    buf_init(&out, 1024);
    ck_assert_int_eq(pw_gzip_decompress(&ctx, two, sizeof two, 22, &out), 0);
    ck_assert_mem_eq(buf_begin(&out), "hello, grpchello, grpc", 22);
    buf_consume(&out, buf_size(&out));
    ck_assert_int_eq(pw_gzip_decompress(&ctx, two, sizeof two, 21, &out), PW_GZIP_ERR_TOO_LARGE);
    buf_deinit(&out);
}
END_TEST

START_TEST(compress_cap_and_level)
{
    uint8_t *src = pattern(100000, 1); /* incompressible */
    buf z;
    buf_init(&z, 50000);
    ck_assert_int_eq(buf_append(&z, "ab", 2), 0);
    ck_assert_int_eq(pw_gzip_compress(&ctx, src, 100000, &z), -ENOBUFS);
    ck_assert_uint_eq(buf_size(&z), 2);
    ck_assert_mem_eq(buf_begin(&z), "ab", 2);
    buf_deinit(&z);

    /* Levels 0 (stored) and 9 both produce valid gzip; a bad level is refused. */
    for (int level = 0; level <= 9; level += 9) {
        pw_gzip_ctx c;
        pw_gzip_ctx_init(&c, level);
        buf_init(&z, 1 << 20);
        ck_assert_int_eq(pw_gzip_compress(&c, src, 1000, &z), 0);
        buf back;
        buf_init(&back, 1 << 20);
        ck_assert_int_eq(pw_gzip_decompress(&c, buf_begin(&z), buf_size(&z), 1000, &back), 0);
        ck_assert(memcmp(buf_begin(&back), src, 1000) == 0);
        buf_deinit(&back);
        buf_deinit(&z);
        pw_gzip_ctx_deinit(&c);
    }
    pw_gzip_ctx bad;
    pw_gzip_ctx_init(&bad, 42);
    buf_init(&z, 1024);
    ck_assert_int_eq(pw_gzip_compress(&bad, src, 10, &z), -EINVAL);
    buf_deinit(&z);
    pw_gzip_ctx_deinit(&bad);
    free(src);
}
END_TEST

START_TEST(context_reuse)
{
    /* One context, many independent messages (contexts are reset per message). */
    buf z, out;
    buf_init(&z, 1 << 20);
    buf_init(&out, 1 << 20);
    for (int i = 0; i < 200; i++) {
        size_t n = (size_t)(i * 37 % 3000);
        uint8_t *src = pattern(n, (unsigned)i & 1);
        buf_consume(&z, buf_size(&z));
        buf_consume(&out, buf_size(&out));
        ck_assert_int_eq(pw_gzip_compress(&ctx, src, n, &z), 0);
        ck_assert_int_eq(pw_gzip_decompress(&ctx, buf_begin(&z), buf_size(&z), n, &out), 0);
        ck_assert_uint_eq(buf_size(&out), n);
        ck_assert(n == 0 || memcmp(buf_begin(&out), src, n) == 0);
        free(src);
    }
    buf_deinit(&z);
    buf_deinit(&out);
}
END_TEST

static Suite *gzip_suite(void)
{
    Suite *s = suite_create("pw_gzip");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, decodes_foreign_gzip);
    tcase_add_test(tc, round_trip_sizes);
    tcase_add_test(tc, appends_and_rolls_back);
    tcase_add_test(tc, bomb_is_bounded);
    tcase_add_test(tc, corrupt_input_rejected);
    tcase_add_test(tc, concatenated_members);
    tcase_add_test(tc, compress_cap_and_level);
    tcase_add_test(tc, context_reuse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ts_run_suite(gzip_suite()); }
