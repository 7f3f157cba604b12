/* Unit tests for proto_wire/pw_grpc_util: status codes, grpc-timeout, grpc-message
 * percent-encoding, base64 and metadata validation. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_util.h"
#include "ts_main.h"

#define NS_S 1000000000ull

static int parse_timeout(const char *s, uint64_t *ns)
{
    return pw_grpc_timeout_parse(s, strlen(s), ns);
}

START_TEST(timeout_every_unit)
{
    static const struct {
        const char *s;
        uint64_t ns;
    } ok[] = {
        {"1H", 3600 * NS_S},
        {"2M", 120 * NS_S},
        {"3S", 3 * NS_S},
        {"4m", 4000000},
        {"5u", 5000},
        {"6n", 6},
        {"0S", 0},
        {"00000001n", 1},
        {"99999999n", 99999999},
        {"99999999u", 99999999000ull},
        {"99999999m", 99999999000000ull},
        {"99999999S", 99999999 * NS_S},
        {"99999999M", 99999999ull * 60 * NS_S}, /* 6.0e18: still exact */
        {"2562047H", 2562047ull * 3600 * NS_S}, /* just under INT64_MAX */
        {"2562048H", PW_GRPC_TIMEOUT_NS_MAX},   /* just over: saturates */
        {"99999999H", PW_GRPC_TIMEOUT_NS_MAX},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t ns = 12345;
        ck_assert_msg(parse_timeout(ok[i].s, &ns) == 0, "%s", ok[i].s);
        ck_assert_msg(ns == ok[i].ns, "%s -> %llu", ok[i].s, (unsigned long long)ns);
    }
    /* Not NUL-terminated: only len bytes are read. */
    uint64_t ns;
    ck_assert_int_eq(pw_grpc_timeout_parse("10Sxyz", 3, &ns), 0);
    ck_assert_uint_eq(ns, 10 * NS_S);
}
END_TEST

START_TEST(timeout_invalid)
{
    static const char *bad[] = {
        "",     "S",   "1",    "12345678", "123456789S", "000000000n", "-1S",
        "+1S",  " 1S", "1S ",  "1 S",      "1s",         "1h",         "1SS",
        "1.5S", "1x",  "0x1S", "1e3S",     "\x31\x00S",  "H1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ns = 777;
        size_t len = i == 18 ? 3 : strlen(bad[i]);
        ck_assert_msg(pw_grpc_timeout_parse(bad[i], len, &ns) == -EINVAL, "'%s'", bad[i]);
        ck_assert_uint_eq(ns, 777); /* untouched on error */
    }
}
END_TEST

START_TEST(timeout_format)
{
    static const struct {
        uint64_t ns;
        const char *s;
    } cases[] = {
        {0, "0n"},
        {1, "1n"},
        {999, "999n"},
        {1000, "1u"},
        {NS_S, "1S"},
        {90 * NS_S, "90S"},
        {120 * NS_S, "2M"},
        {3600 * NS_S, "1H"},
        {1500000, "1500u"},
        {99999999, "99999999n"},
        {100000001, "100001u"},   /* 100000.001u rounded up */
        {123456789, "123457u"},   /* not exact anywhere: finest unit that fits, rounded up */
        {UINT64_MAX, "5124096H"}, /* 5124095.57H rounded up */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[PW_GRPC_TIMEOUT_STR_BYTES];
        size_t n = pw_grpc_timeout_format(cases[i].ns, out);
        ck_assert_str_eq(out, cases[i].s);
        ck_assert_uint_eq(n, strlen(cases[i].s));
    }
}
END_TEST

START_TEST(timeout_coarse)
{
    static const struct {
        uint64_t ns, want;
    } cases[] = {
        {0, 0},
        {7, 7},
        {999, 999},
        {1000, 1000},
        {1001, 1010},                     /* up, never down */
        {1234567, 1240000},               /* three digits kept, rounded up */
        {29999876000ull, 30000000000ull}, /* 30 s less 124 us: "30S" */
        {29910000001ull, 30000000000ull}, /* 90 ms gone: still "30S" */
        {29890000000ull, 29900000000ull}, /* 110 ms gone: "29900m" */
        {30000000000ull, 30000000000ull},
        {UINT64_MAX, UINT64_MAX}, /* saturates instead of wrapping */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t got = pw_grpc_timeout_coarse(cases[i].ns);
        ck_assert_msg(got == cases[i].want, "%llu -> %llu, want %llu",
                      (unsigned long long)cases[i].ns, (unsigned long long)got,
                      (unsigned long long)cases[i].want);
        ck_assert(got >= cases[i].ns);
    }
    /* The header value a 30 s call sends is the same however much of it is gone (up to 1 %). */
    char a[PW_GRPC_TIMEOUT_STR_BYTES], b[PW_GRPC_TIMEOUT_STR_BYTES];
    pw_grpc_timeout_format(pw_grpc_timeout_coarse(30 * NS_S - 2000), a);
    pw_grpc_timeout_format(pw_grpc_timeout_coarse(30 * NS_S - 90000000), b);
    ck_assert_str_eq(a, "30S");
    ck_assert_str_eq(b, "30S");
}
END_TEST

START_TEST(timeout_format_parse_round_trip)
{
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t ns = (x >> (x % 64)) % PW_GRPC_TIMEOUT_NS_MAX;
        char out[PW_GRPC_TIMEOUT_STR_BYTES];
        size_t n = pw_grpc_timeout_format(ns, out);
        uint64_t back;
        ck_assert_int_eq(pw_grpc_timeout_parse(out, n, &back), 0);
        /* Never shorter, and longer by less than one unit of the chosen precision: the next
         * finer unit (at most 1000x finer) overflowed 8 digits, so the error is < ns / 99999. */
        if (back < ns || back - ns > ns / 99999 + 1)
            ck_abort_msg("%llu -> %s", (unsigned long long)ns, out);
    }
}
END_TEST

/* ---- percent-encoding ---- */

static void pct_round_trip(const uint8_t *src, size_t len, const char *want)
{
    size_t elen = pw_grpc_pct_encoded_len(src, len);
    uint8_t *enc = malloc(elen + 1);
    ck_assert_uint_eq(pw_grpc_pct_encode(enc, src, len), elen);
    if (want) {
        ck_assert_uint_eq(elen, strlen(want));
        ck_assert_mem_eq(enc, want, elen);
    }
    for (size_t i = 0; i < elen; i++) ck_assert(enc[i] >= 0x20 && enc[i] <= 0x7e);
    uint8_t *dec = malloc(elen + 1);
    ck_assert_uint_eq(pw_grpc_pct_decode(dec, enc, elen), len);
    if (len) ck_assert_mem_eq(dec, src, len);
    /* In place. */
    ck_assert_uint_eq(pw_grpc_pct_decode(enc, enc, elen), len);
    if (len) ck_assert_mem_eq(enc, src, len);
    free(enc);
    free(dec);
}

START_TEST(pct_encode_vectors)
{
    pct_round_trip((const uint8_t *)"", 0, "");
    pct_round_trip((const uint8_t *)"hello world ~!", 14, "hello world ~!");
    pct_round_trip((const uint8_t *)"100%", 4, "100%25");
    pct_round_trip((const uint8_t *)"a\nb\tc", 5, "a%0Ab%09c");
    pct_round_trip((const uint8_t *)"caf\xc3\xa9", 5, "caf%C3%A9");         /* UTF-8 é */
    pct_round_trip((const uint8_t *)"\xe2\x82\xac", 3, "%E2%82%AC");        /* UTF-8 € */
    pct_round_trip((const uint8_t *)"\xf0\x9f\x98\x80", 4, "%F0%9F%98%80"); /* emoji */
    pct_round_trip((const uint8_t *)"\x7f\x00\x1f\x20", 4, "%7F%00%1F ");
    pct_round_trip((const uint8_t *)"%%25", 4, "%25%2525");
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    pct_round_trip(all, sizeof all, NULL);
    ck_assert_uint_eq(pw_grpc_pct_encoded_len(all, sizeof all), 256 + 2 * (256 - 94));
}
END_TEST

static void pct_decode_is(const char *in, const char *want, size_t want_len)
{
    uint8_t out[64];
    size_t n = pw_grpc_pct_decode(out, (const uint8_t *)in, strlen(in));
    ck_assert_uint_eq(n, want_len);
    ck_assert_mem_eq(out, want, want_len);
}

START_TEST(pct_decode_lenient)
{
    pct_decode_is("%", "%", 1);
    pct_decode_is("%4", "%4", 2);
    pct_decode_is("ab%", "ab%", 3);
    pct_decode_is("%zz", "%zz", 3);
    pct_decode_is("%4g1", "%4g1", 4);
    pct_decode_is("%g41", "%g41", 4);
    pct_decode_is("%41%", "A%", 2);
    pct_decode_is("%%41", "%A", 2);
    pct_decode_is("%c3%a9", "\xc3\xa9", 2); /* lowercase hex accepted */
    pct_decode_is("%00x", "\0x", 2);
    pct_decode_is("plain text", "plain text", 10);
}
END_TEST

START_TEST(pct_encode_buf)
{
    buf b;
    buf_init(&b, 8);
    ck_assert_int_eq(pw_grpc_pct_encode_buf(&b, (const uint8_t *)"a%", 2), 0);
    ck_assert_uint_eq(buf_size(&b), 4);
    ck_assert_mem_eq(buf_begin(&b), "a%25", 4);
    ck_assert_int_eq(pw_grpc_pct_encode_buf(&b, (const uint8_t *)"\n\n", 2), -ENOBUFS);
    ck_assert_uint_eq(buf_size(&b), 4); /* unchanged */
    ck_assert_int_eq(pw_grpc_pct_encode_buf(&b, (const uint8_t *)"", 0), 0);
    buf_deinit(&b);
}
END_TEST

/* ---- base64 (RFC 4648 §10 test vectors) ---- */

static const struct {
    const char *raw, *padded, *unpadded;
} b64v[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

START_TEST(b64_rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof b64v / sizeof b64v[0]; i++) {
        size_t n = strlen(b64v[i].raw);
        char enc[16];
        ck_assert_uint_eq(pw_b64_encoded_len(n, true), strlen(b64v[i].padded));
        ck_assert_uint_eq(pw_b64_encoded_len(n, false), strlen(b64v[i].unpadded));
        size_t e = pw_b64_encode(enc, (const uint8_t *)b64v[i].raw, n, true);
        ck_assert_uint_eq(e, strlen(b64v[i].padded));
        ck_assert_mem_eq(enc, b64v[i].padded, e);
        e = pw_b64_encode(enc, (const uint8_t *)b64v[i].raw, n, false);
        ck_assert_uint_eq(e, strlen(b64v[i].unpadded));
        ck_assert_mem_eq(enc, b64v[i].unpadded, e);
        /* Both forms decode. */
        uint8_t dec[16];
        const char *forms[2] = {b64v[i].padded, b64v[i].unpadded};
        for (int k = 0; k < 2; k++) {
            size_t fl = strlen(forms[k]);
            ck_assert_uint_ge(pw_b64_decoded_len_max(fl), n);
            ck_assert_int_eq(pw_b64_decode(dec, forms[k], fl), (long)n);
            ck_assert_mem_eq(dec, b64v[i].raw, n);
        }
    }
}
END_TEST

START_TEST(b64_invalid)
{
    static const char *bad[] = {
        "Z",    "Zm9vY", "Zg=",     "Zg===",    "Z===", "====",     "=Zg=",
        "Zm=v", "Zm9v!", "Zm9v Yg", "Zm9v\nYg", "-_-_", "Zg==Zg==", "Zm9vYg=A",
    };
    uint8_t dec[32];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(pw_b64_decode(dec, bad[i], strlen(bad[i])) == -EINVAL, "%s", bad[i]);
    /* Non-zero unused bits are tolerated: "Zh" decodes like "Zg". */
    ck_assert_int_eq(pw_b64_decode(dec, "Zh", 2), 1);
    ck_assert_uint_eq(dec[0], 'f');
}
END_TEST

START_TEST(b64_round_trip_all_lengths)
{
    uint8_t src[300];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 131 + 7);
    char enc[400];
    uint8_t dec[400];
    for (size_t n = 0; n <= sizeof src; n++) {
        for (int pad = 0; pad < 2; pad++) {
            size_t e = pw_b64_encode(enc, src, n, pad);
            ck_assert_uint_eq(e, pw_b64_encoded_len(n, pad));
            ck_assert_int_eq(pw_b64_decode(dec, enc, e), (long)n);
            ck_assert(memcmp(dec, src, n) == 0);
            /* In place. */
            ck_assert_int_eq(pw_b64_decode((uint8_t *)enc, enc, e), (long)n);
            ck_assert(memcmp(enc, src, n) == 0);
        }
    }
}
END_TEST

/* ---- status ---- */

START_TEST(status_names_and_parse)
{
    ck_assert_str_eq(pw_grpc_status_name(PW_GRPC_OK), "OK");
    ck_assert_str_eq(pw_grpc_status_name(PW_GRPC_CANCELLED), "CANCELLED");
    ck_assert_str_eq(pw_grpc_status_name(PW_GRPC_RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
    ck_assert_str_eq(pw_grpc_status_name(PW_GRPC_INTERNAL), "INTERNAL");
    ck_assert_str_eq(pw_grpc_status_name(PW_GRPC_UNAUTHENTICATED), "UNAUTHENTICATED");
    ck_assert_str_eq(pw_grpc_status_name(17), "INVALID_STATUS");
    ck_assert_str_eq(pw_grpc_status_name(-1), "INVALID_STATUS");
    for (int c = 0; c <= PW_GRPC_STATUS_MAX; c++) {
        ck_assert_ptr_nonnull(pw_grpc_status_name(c));
        ck_assert_str_ne(pw_grpc_status_name(c), "INVALID_STATUS");
    }
    ck_assert_int_eq(PW_GRPC_UNAUTHENTICATED, 16);
    ck_assert_int_eq(PW_GRPC_DEADLINE_EXCEEDED, 4);

    pw_grpc_status st = PW_GRPC_OK;
    ck_assert_int_eq(pw_grpc_status_parse("0", 1, &st), 0);
    ck_assert_int_eq(st, PW_GRPC_OK);
    ck_assert_int_eq(pw_grpc_status_parse("16", 2, &st), 0);
    ck_assert_int_eq(st, PW_GRPC_UNAUTHENTICATED);
    ck_assert_int_eq(pw_grpc_status_parse("17", 2, &st), 0);
    ck_assert_int_eq(st, PW_GRPC_UNKNOWN);
    ck_assert_int_eq(pw_grpc_status_parse("999999999", 9, &st), 0);
    ck_assert_int_eq(st, PW_GRPC_UNKNOWN);
    ck_assert_int_eq(pw_grpc_status_parse("", 0, &st), -EINVAL);
    ck_assert_int_eq(pw_grpc_status_parse("1a", 2, &st), -EINVAL);
    ck_assert_int_eq(pw_grpc_status_parse("-1", 2, &st), -EINVAL);
    ck_assert_int_eq(pw_grpc_status_parse("1234567890", 10, &st), -EINVAL);
}
END_TEST

/* ---- metadata ---- */

#define NAME_OK(s) pw_grpc_md_name_valid(s, strlen(s))
#define VALUE_OK(n, v) pw_grpc_md_value_valid(n, strlen(n), v, strlen(v))

START_TEST(metadata_validation)
{
    ck_assert(NAME_OK("x-user-id"));
    ck_assert(NAME_OK("a.b_c-9"));
    ck_assert(NAME_OK("trace-proto-bin"));
    ck_assert(!NAME_OK(""));
    ck_assert(!NAME_OK("X-User"));
    ck_assert(!NAME_OK(":path"));
    ck_assert(!NAME_OK("a b"));
    ck_assert(!NAME_OK("caf\xc3\xa9"));
    ck_assert(!NAME_OK("a/b"));

    ck_assert(pw_grpc_md_is_bin("trace-bin", 9));
    ck_assert(!pw_grpc_md_is_bin("bin", 3));
    ck_assert(!pw_grpc_md_is_bin("trace-bins", 10));
    ck_assert(pw_grpc_md_is_reserved("grpc-timeout", 12));
    ck_assert(!pw_grpc_md_is_reserved("grpcx", 5));
    ck_assert(!pw_grpc_md_is_reserved("x-grpc-", 7));

    ck_assert(VALUE_OK("x", "hello world ~"));
    ck_assert(VALUE_OK("x", ""));
    ck_assert(!VALUE_OK("x", "tab\there"));
    ck_assert(!VALUE_OK("x", "del\x7f"));
    ck_assert(!VALUE_OK("x", "caf\xc3\xa9"));
    ck_assert(VALUE_OK("x-bin", "AAEC/+8="));
    ck_assert(VALUE_OK("x-bin", "AA==,Zg")); /* joined duplicates */
    ck_assert(!VALUE_OK("x-bin", "a b"));
    ck_assert(!VALUE_OK("x-bin", "a_b"));
}
END_TEST

static Suite *util_suite(void)
{
    Suite *s = suite_create("pw_grpc_util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, timeout_every_unit);
    tcase_add_test(tc, timeout_invalid);
    tcase_add_test(tc, timeout_format);
    tcase_add_test(tc, timeout_format_parse_round_trip);
    tcase_add_test(tc, timeout_coarse);
    tcase_add_test(tc, pct_encode_vectors);
    tcase_add_test(tc, pct_decode_lenient);
    tcase_add_test(tc, pct_encode_buf);
    tcase_add_test(tc, b64_rfc4648_vectors);
    tcase_add_test(tc, b64_invalid);
    tcase_add_test(tc, b64_round_trip_all_lengths);
    tcase_add_test(tc, status_names_and_parse);
    tcase_add_test(tc, metadata_validation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ts_run_suite(util_suite()); }
