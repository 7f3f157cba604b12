/* core/rt_sha256: the FIPS 180-4 example vectors (NIST's "SHA256.pdf" examples and the
 * million-'a' message), every length across the one-or-two padding blocks boundary against
 * an incremental property (the digest of each length differs from its neighbours and is
 * stable), and rt_ct_equal. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_sha256.h"
#include "ts_main.h"

static void hex(const uint8_t d[RT_SHA256_BYTES], char out[2 * RT_SHA256_BYTES + 1])
{
    for (unsigned i = 0; i < RT_SHA256_BYTES; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

typedef struct vec {
    const char *msg;
    const char *digest;
} vec;

static const vec vecs[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    /* 56 bytes: the length no longer fits the first block, padding takes a second */
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
};

START_TEST(fips_vectors)
{
    const vec *v = &vecs[_i];
    uint8_t d[RT_SHA256_BYTES];
    char h[2 * RT_SHA256_BYTES + 1];
    rt_sha256(v->msg, strlen(v->msg), d);
    hex(d, h);
    ck_assert_str_eq(h, v->digest);
}
END_TEST

START_TEST(million_a)
{
    size_t n = 1000000;
    char *p = rt_malloc(n);
    ck_assert_ptr_nonnull(p);
    memset(p, 'a', n);
    uint8_t d[RT_SHA256_BYTES];
    char h[2 * RT_SHA256_BYTES + 1];
    rt_sha256(p, n, d);
    hex(d, h);
    ck_assert_str_eq(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    rt_free(p);
}
END_TEST

START_TEST(lengths_around_blocks)
{
    /* 0..200 bytes cover 55/56/63/64 (the padding cases) a few blocks deep: each digest is
     * different from every other (a padding bug makes neighbours collide) and deterministic. */
    uint8_t msg[200], d[201][RT_SHA256_BYTES], again[RT_SHA256_BYTES];
    for (unsigned i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 7 + 1);
    for (unsigned n = 0; n <= sizeof msg; n++) {
        rt_sha256(msg, n, d[n]);
        rt_sha256(msg, n, again);
        ck_assert(memcmp(d[n], again, RT_SHA256_BYTES) == 0);
        for (unsigned k = 0; k < n; k++) ck_assert(memcmp(d[n], d[k], RT_SHA256_BYTES) != 0);
    }
}
END_TEST

START_TEST(ct_equal)
{
    uint8_t a[32] = {0}, b[32] = {0};
    ck_assert(rt_ct_equal(a, b, sizeof a));
    ck_assert(rt_ct_equal(a, b, 0));
    for (unsigned i = 0; i < sizeof a; i++) {
        b[i] = 0x80;
        ck_assert(!rt_ct_equal(a, b, sizeof a));
        ck_assert(rt_ct_equal(a, b, i)); /* only the first i bytes compared */
        b[i] = 0;
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rt_sha256");
    TCase *tc = tcase_create("sha256");
    tcase_add_loop_test(tc, fips_vectors, 0, sizeof vecs / sizeof vecs[0]);
    tcase_add_test(tc, million_a);
    tcase_add_test(tc, lengths_around_blocks);
    tcase_add_test(tc, ct_equal);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
