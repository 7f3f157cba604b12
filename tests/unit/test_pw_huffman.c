/* Unit tests for proto_wire/pw_huffman.c: RFC 7541 §5.2 / Appendix B. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_hpack.h"
#include "ts_main.h"

/* Invalid input, in pw_hpack's error space. */
#define BAD PW_HPACK_ERR_HUFFMAN

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        int v;
        if (*p >= '0' && *p <= '9') v = *p - '0';
        else if (*p >= 'a' && *p <= 'f') v = *p - 'a' + 10;
        else continue;
        if (hi < 0) hi = v;
        else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return n;
}

/* Encoded strings from RFC 7541 Appendix C.4 and C.6. */
static const struct {
    const char *plain, *hex;
} vectors[] = {
    {"www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"},
    {"no-cache", "a8eb 1064 9cbf"},
    {"custom-key", "25a8 49e9 5ba9 7d7f"},
    {"custom-value", "25a8 49e9 5bb8 e8b4 bf"},
    {"302", "6402"},
    {"307", "640e ff"},
    {"private", "aec3 771a 4b"},
    {"Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"},
    {"Mon, 21 Oct 2013 20:13:22 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff"},
    {"https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"},
    {"gzip", "9bd9 ab"},
    {"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
     "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 "
     "65c0 03ed 4ee5 b106 3d50 07"},
};

START_TEST(test_rfc_vectors)
{
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        uint8_t want[128], got[128], plain[128];
        const size_t wlen = unhex(vectors[i].hex, want);
        const uint8_t *p = (const uint8_t *)vectors[i].plain;
        const size_t plen = strlen(vectors[i].plain);
        ck_assert_uint_eq(pw_huff_encoded_len(p, plen), wlen);
        ck_assert_uint_eq(pw_huff_encode(got, p, plen), wlen);
        ck_assert_mem_eq(got, want, wlen);
        ck_assert_int_eq(pw_huff_decode(plain, sizeof(plain), want, wlen), (long)plen);
        ck_assert_mem_eq(plain, p, plen);
        ck_assert_int_eq(pw_huff_decoded_len(want, wlen), (long)plen);
    }
}
END_TEST

static void roundtrip(const uint8_t *s, size_t n)
{
    uint8_t *enc = malloc(n * 4 + 1), *dec = malloc(n + 1);
    const size_t elen = pw_huff_encoded_len(s, n);
    ck_assert_uint_eq(pw_huff_encode(enc, s, n), elen);
    ck_assert_int_eq(pw_huff_decode(dec, n, enc, elen), (long)n);
    if (n) ck_assert_mem_eq(dec, s, n);
    ck_assert_int_eq(pw_huff_decoded_len(enc, elen), (long)n);
    if (n) ck_assert_int_eq(pw_huff_decode(dec, n - 1, enc, elen), BAD); /* one byte short */
    free(enc);
    free(dec);
}

START_TEST(test_all_bytes)
{
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    roundtrip(all, sizeof(all));
    for (int i = 0; i < 256; i++) {
        uint8_t rep[9];
        for (size_t k = 1; k <= sizeof(rep); k++) { /* every padding length for each code */
            memset(rep, i, k);
            roundtrip(rep, k);
        }
    }
    roundtrip(all, 0);
}
END_TEST

START_TEST(test_random_strings)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    uint8_t s[600];
    for (int iter = 0; iter < 3000; iter++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const size_t n = (size_t)(x % sizeof(s));
        const int alphabet = (iter & 1) ? 256 : 64; /* half mostly-ASCII, half any byte */
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            s[i] = (uint8_t)(alphabet == 256 ? x : ' ' + x % 64);
        }
        roundtrip(s, n);
    }
}
END_TEST

START_TEST(test_invalid)
{
    uint8_t out[64], in[16];
    /* EOS (30 ones) + 2 padding ones: EOS inside a string is an error. */
    ck_assert_int_eq(pw_huff_decode(out, sizeof(out), (const uint8_t *)"\xff\xff\xff\xff", 4), BAD);
    ck_assert_int_eq(pw_huff_decoded_len((const uint8_t *)"\xff\xff\xff\xff", 4), BAD);
    /* 'a' (00011) then EOS: still an error. */
    in[0] = 0x1f, in[1] = 0xff, in[2] = 0xff, in[3] = 0xff, in[4] = 0xfe;
    ck_assert_int_eq(pw_huff_decode(out, sizeof(out), in, 5), BAD);
    /* 'a' + "111" padding: valid. */
    ck_assert_int_eq(pw_huff_decode(out, sizeof(out), (const uint8_t *)"\x1f", 1), 1);
    ck_assert_int_eq(out[0], 'a');
    /* 'a' + "000": padding not all ones. */
    ck_assert_int_eq(pw_huff_decode(out, sizeof(out), (const uint8_t *)"\x18", 1), BAD);
    /* 'a' + "110": padding not all ones. */
    ck_assert_int_eq(pw_huff_decode(out, sizeof(out), (const uint8_t *)"\x1e", 1), BAD);
    /* 'a' + 11 ones: padding longer than 7 bits. */
    ck_assert_int_eq(pw_huff_decode(out, sizeof(out), (const uint8_t *)"\x1f\xff", 2), BAD);
    /* A whole byte of ones after an exact fit (8 x 'a' = 40 bits): 8 bits of padding. */
    const uint8_t a8[8] = {'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'};
    size_t n = pw_huff_encode(in, a8, 8);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(pw_huff_decode(out, sizeof(out), in, n), 8);
    in[n] = 0xff;
    ck_assert_int_eq(pw_huff_decode(out, sizeof(out), in, n + 1), BAD);
    /* Exactly 7 padding bits is fine: 'a'(5) + 'b'(6) + 'b'(6) = 17 bits. */
    n = pw_huff_encode(in, (const uint8_t *)"abb", 3);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(in[2] & 0x7f, 0x7f);
    ck_assert_int_eq(pw_huff_decode(out, sizeof(out), in, n), 3);
    ck_assert_mem_eq(out, "abb", 3);
    /* Empty input decodes to the empty string; NULL dst with no room fails on any output. */
    ck_assert_int_eq(pw_huff_decode(out, sizeof(out), in, 0), 0);
    ck_assert_int_eq(pw_huff_decode(NULL, 0, (const uint8_t *)"\x1f", 1), BAD);
}
END_TEST

/* A slow reference decoder, bit by bit against the code table (codes recovered from the
 * encoder: 8 copies of one symbol are exactly `len` bytes, plus EOS = 30 ones). Checks the
 * state-machine decoder on every 1- and 2-byte input and on random longer ones. */
static uint32_t ref_code[257];
static uint8_t ref_len[257];

static void ref_init(void)
{
    for (int s = 0; s < 256; s++) {
        uint8_t in[8], out[32];
        memset(in, s, 8);
        const size_t n = pw_huff_encode(out, in, 8);
        ref_len[s] = (uint8_t)n;
        /* n >= 5, so the first code (n <= 30 bits) lies within the first 4 bytes. */
        const uint32_t v = (uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 |
                           out[3];
        ref_code[s] = v >> (32 - n);
    }
    ref_code[256] = 0x3fffffff;
    ref_len[256] = 30;
}

static long ref_decode(uint8_t *dst, const uint8_t *src, size_t len)
{
    uint32_t cur = 0;
    unsigned nbits = 0;
    long out = 0;
    for (size_t i = 0; i < len * 8; i++) {
        cur = cur << 1 | ((src[i / 8] >> (7 - i % 8)) & 1u);
        nbits++;
        for (int s = 0; s < 257; s++) {
            if (ref_len[s] == nbits && ref_code[s] == cur) {
                if (s == 256) return PW_HPACK_ERR_HUFFMAN;
                dst[out++] = (uint8_t)s;
                cur = 0;
                nbits = 0;
                break;
            }
        }
        if (nbits > 30) return PW_HPACK_ERR_HUFFMAN;
    }
    if (nbits > 7 || cur != (1u << nbits) - 1) return PW_HPACK_ERR_HUFFMAN;
    return out;
}

static void ref_compare(const uint8_t *in, size_t n)
{
    uint8_t a[64], b[64];
    const long ra = ref_decode(a, in, n), rb = pw_huff_decode(b, sizeof(b), in, n);
    ck_assert_int_eq(rb, ra);
    if (ra > 0) ck_assert_mem_eq(a, b, (size_t)ra);
    ck_assert_int_eq(pw_huff_decoded_len(in, n), ra);
}

START_TEST(test_reference_exhaustive)
{
    ref_init();
    uint8_t in[24];
    for (int i = 0; i < 256; i++) {
        in[0] = (uint8_t)i;
        ref_compare(in, 1);
        for (int j = 0; j < 256; j++) {
            in[1] = (uint8_t)j;
            ref_compare(in, 2);
        }
    }
    uint64_t x = 88172645463325252u;
    for (int iter = 0; iter < 20000; iter++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const size_t n = 3 + x % 20;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* Bias towards ones so long codes, EOS and padding edges are hit. */
            in[i] = (uint8_t)((x & 3) ? (x >> 8) | (x >> 16) : x >> 8);
        }
        ref_compare(in, n);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pw_huffman");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rfc_vectors);
    tcase_add_test(tc, test_all_bytes);
    tcase_add_test(tc, test_random_strings);
    tcase_add_test(tc, test_invalid);
    tcase_add_test(tc, test_reference_exhaustive);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
