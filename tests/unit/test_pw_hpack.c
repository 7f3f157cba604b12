/* Unit tests for proto_wire/pw_hpack*.c: RFC 7541 Appendix C byte-exact, decoder errors and
 * limits, dynamic table eviction, encoder choices and size updates, round trips. */
#include <check.h>
#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_hpack.h"
#include "ts_main.h"

/* ---- helpers ----------------------------------------------------------------------------- */

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

/* Decoded fields as "name: value\n" text (flags as a "!" suffix on never-indexed ones). */
typedef struct collect {
    char text[8192];
    size_t len;
    int count;
    int stop_at; /* return -42 from this field on (0: never) */
    bool count_only;
} collect;

static int on_field(void *ud, const uint8_t *name, size_t name_len, const uint8_t *value,
                    size_t value_len, unsigned flags)
{
    collect *c = ud;
    c->count++;
    if (c->stop_at && c->count >= c->stop_at) return -42;
    if (c->count_only) return 0;
    const int n = snprintf(c->text + c->len, sizeof(c->text) - c->len, "%.*s: %.*s%s\n",
                           (int)name_len, (const char *)name, (int)value_len, (const char *)value,
                           (flags & PW_HPACK_F_NEVER_INDEXED) ? "!" : "");
    ck_assert(n > 0 && (size_t)n < sizeof(c->text) - c->len);
    c->len += (size_t)n;
    return 0;
}

static int decode_hex(pw_hpack_dec *d, const char *hex, collect *c, size_t max_list,
                      const char **err)
{
    static uint8_t block[4096];
    const size_t n = unhex(hex, block);
    memset(c, 0, sizeof(*c));
    return pw_hpack_decode_block(d, block, n, max_list, on_field, c, err);
}

/* Table contents as "name: value\n" lines, newest first. */
static void table_text(const pw_hpack_table *t, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < t->count; i++) {
        const uint8_t *n, *v;
        size_t nl, vl;
        ck_assert_int_eq(pw_hpack_table_entry(t, i, &n, &nl, &v, &vl), 0);
        len += (size_t)snprintf(out + len, cap - len, "%.*s: %.*s\n", (int)nl, (const char *)n,
                                (int)vl, (const char *)v);
    }
    const uint8_t *n, *v;
    size_t nl, vl;
    ck_assert_int_eq(pw_hpack_table_entry(t, t->count, &n, &nl, &v, &vl), PW_HPACK_ERR_RANGE);
}

static void check_table(const pw_hpack_table *t, size_t size, const char *want)
{
    char got[8192];
    table_text(t, got, sizeof(got));
    ck_assert_str_eq(got, want);
    ck_assert_uint_eq(t->size, size);
}

#define BIG_LIST ((size_t)1 << 20)

/* ---- RFC 7541 Appendix C.2: one representation each, fresh decoder ---------------------- */

START_TEST(test_c2_fields)
{
    static const struct {
        const char *hex, *list, *table;
        size_t size;
    } cases[] = {
        {"400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
         "custom-key: custom-header\n", "custom-key: custom-header\n", 55},           /* C.2.1 */
        {"040c 2f73 616d 706c 652f 7061 7468", ":path: /sample/path\n", "", 0},       /* C.2.2 */
        {"1008 7061 7373 776f 7264 0673 6563 7265 74", "password: secret!\n", "", 0}, /* C.2.3 */
        {"82", ":method: GET\n", "", 0},                                              /* C.2.4 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pw_hpack_dec d;
        collect c;
        ck_assert_int_eq(pw_hpack_dec_init(&d, 4096), 0);
        ck_assert_int_eq(decode_hex(&d, cases[i].hex, &c, BIG_LIST, NULL), 0);
        ck_assert_str_eq(c.text, cases[i].list);
        check_table(&d.table, cases[i].size, cases[i].table);
        pw_hpack_dec_deinit(&d);
    }
}
END_TEST

/* ---- C.3 / C.4 requests, C.5 / C.6 responses --------------------------------------------- */

typedef struct step {
    const char *hex, *list, *table;
    size_t size;
} step;

static const char *const req_list[3] = {
    ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n",
    ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n"
    "cache-control: no-cache\n",
    ":method: GET\n:scheme: https\n:path: /index.html\n:authority: www.example.com\n"
    "custom-key: custom-value\n",
};
static const char *const req_table[3] = {
    ":authority: www.example.com\n",
    "cache-control: no-cache\n:authority: www.example.com\n",
    "custom-key: custom-value\ncache-control: no-cache\n:authority: www.example.com\n",
};
static const size_t req_size[3] = {57, 110, 164};

static const char *const c3_hex[3] = {
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
};
static const char *const c4_hex[3] = {
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
};

#define DATE1 "Mon, 21 Oct 2013 20:13:21 GMT"
#define DATE2 "Mon, 21 Oct 2013 20:13:22 GMT"
#define COOKIE "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
static const char *const resp_list[3] = {
    ":status: 302\ncache-control: private\ndate: " DATE1 "\nlocation: https://www.example.com\n",
    ":status: 307\ncache-control: private\ndate: " DATE1 "\nlocation: https://www.example.com\n",
    ":status: 200\ncache-control: private\ndate: " DATE2 "\nlocation: https://www.example.com\n"
    "content-encoding: gzip\nset-cookie: " COOKIE "\n",
};
static const char *const resp_table[3] = {
    "location: https://www.example.com\ndate: " DATE1 "\ncache-control: private\n:status: 302\n",
    ":status: 307\nlocation: https://www.example.com\ndate: " DATE1 "\ncache-control: private\n",
    "set-cookie: " COOKIE "\ncontent-encoding: gzip\ndate: " DATE2 "\n",
};
static const size_t resp_size[3] = {222, 222, 215};

static const char *const c5_hex[3] = {
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
    "2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
    "6c65 2e63 6f6d",
    "4803 3330 37c1 c0bf",
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d"
    "54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049"
    "5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e"
    "3d31",
};
static const char *const c6_hex[3] = {
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
    "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    "4883 640e ffc1 c0bf",
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
    "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
    "9587 3160 65c0 03ed 4ee5 b106 3d50 07",
};

static void run_sequence(uint32_t table_size, const char *const *hex, const char *const *list,
                         const char *const *table, const size_t *size)
{
    pw_hpack_dec d;
    collect c;
    ck_assert_int_eq(pw_hpack_dec_init(&d, table_size), 0);
    for (int i = 0; i < 3; i++) {
        const char *err = NULL;
        ck_assert_int_eq(decode_hex(&d, hex[i], &c, BIG_LIST, &err), 0);
        ck_assert_ptr_null(err);
        ck_assert_str_eq(c.text, list[i]);
        check_table(&d.table, size[i], table[i]);
    }
    pw_hpack_dec_deinit(&d);
}

START_TEST(test_c3_requests) { run_sequence(4096, c3_hex, req_list, req_table, req_size); }
END_TEST
START_TEST(test_c4_requests_huffman) { run_sequence(4096, c4_hex, req_list, req_table, req_size); }
END_TEST
START_TEST(test_c5_responses) { run_sequence(256, c5_hex, resp_list, resp_table, resp_size); }
END_TEST
START_TEST(test_c6_responses_huffman)
{
    run_sequence(256, c6_hex, resp_list, resp_table, resp_size);
}
END_TEST

/* ---- encoder: byte-exact where the RFC's choices are ours, round trips elsewhere --------- */

/* Encodes "name: value\n" lines (a "!" suffix marks never-indexed) as one block. */
static void encode_list(pw_hpack_enc *e, buf *out, const char *list)
{
    ck_assert_int_eq(pw_hpack_encode_begin(e, out), 0);
    const char *p = list;
    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *sep = strstr(p + 1, ": "); /* +1: pseudo-header names start with ':' */
        size_t vlen = (size_t)(nl - sep - 2);
        unsigned flags = 0;
        if (vlen && sep[2 + vlen - 1] == '!') flags = PW_HPACK_F_NEVER_INDEXED, vlen--;
        ck_assert_int_eq(pw_hpack_encode_field(e, out, (const uint8_t *)p, (size_t)(sep - p),
                                               (const uint8_t *)sep + 2, vlen, flags),
                         0);
        p = nl + 1;
    }
}

static void check_tables_equal(const pw_hpack_table *a, const pw_hpack_table *b)
{
    char ta[8192], tb[8192];
    table_text(a, ta, sizeof(ta));
    table_text(b, tb, sizeof(tb));
    ck_assert_str_eq(ta, tb);
    ck_assert_uint_eq(a->size, b->size);
    ck_assert_uint_eq(a->max_size, b->max_size);
}

/* Encodes the three lists; when `hex` is given the output must match it byte for byte. Then
 * decodes each block and checks list and table state on both sides. */
static void encode_sequence(uint32_t table_size, const char *const *list, const char *const *table,
                            const size_t *size, const char *const *hex)
{
    pw_hpack_enc e;
    pw_hpack_dec d;
    ck_assert_int_eq(pw_hpack_enc_init(&e, table_size), 0);
    ck_assert_int_eq(pw_hpack_dec_init(&d, table_size), 0);
    for (int i = 0; i < 3; i++) {
        buf out;
        buf_init(&out, 1 << 16);
        encode_list(&e, &out, list[i]);
        if (hex) {
            uint8_t want[1024];
            const size_t n = unhex(hex[i], want);
            ck_assert_uint_eq(buf_size(&out), n);
            ck_assert_mem_eq(buf_begin(&out), want, n);
        }
        collect c = {0};
        ck_assert_int_eq(pw_hpack_decode_block(&d, buf_begin(&out), buf_size(&out), BIG_LIST,
                                               on_field, &c, NULL),
                         0);
        ck_assert_str_eq(c.text, list[i]);
        check_table(&d.table, size[i], table[i]);
        check_tables_equal(&e.table, &d.table);
        buf_deinit(&out);
    }
    pw_hpack_enc_deinit(&e);
    pw_hpack_dec_deinit(&d);
}

START_TEST(test_encode_c4_exact) { encode_sequence(4096, req_list, req_table, req_size, c4_hex); }
END_TEST
/* C.6.2 Huffman-codes "307" in 3 octets, as long as raw: our encoder sends it raw (cheaper to
 * decode), which is exactly C.5.2. */
START_TEST(test_encode_c6_exact)
{
    const char *const ours[3] = {c6_hex[0], "4803 3330 37c1 c0bf", c6_hex[2]};
    encode_sequence(256, resp_list, resp_table, resp_size, ours);
}
END_TEST

START_TEST(test_encode_flags)
{
    pw_hpack_enc e;
    pw_hpack_dec d;
    buf out;
    pw_hpack_enc_init(&e, 4096);
    pw_hpack_dec_init(&d, 4096);
    buf_init(&out, 4096);
    ck_assert_int_eq(pw_hpack_encode_begin(&e, &out), 0);
    ck_assert_uint_eq(buf_size(&out), 0); /* no pending update */
    /* Never-indexed, even with an exact static match: literal 0001xxxx, name index 2. */
    ck_assert_int_eq(pw_hpack_encode_field(&e, &out, (const uint8_t *)":method", 7,
                                           (const uint8_t *)"GET", 3, PW_HPACK_F_NEVER_INDEXED),
                     0);
    ck_assert_int_eq(buf_begin(&out)[0], 0x12);
    size_t mark = buf_size(&out);
    /* Never-indexed with a literal name. */
    ck_assert_int_eq(pw_hpack_encode_field(&e, &out, (const uint8_t *)"password", 8,
                                           (const uint8_t *)"secret", 6, PW_HPACK_F_NEVER_INDEXED),
                     0);
    ck_assert_int_eq(buf_begin(&out)[mark], 0x10);
    mark = buf_size(&out);
    /* No-index with an exact static match: still the 1-byte index. */
    ck_assert_int_eq(pw_hpack_encode_field(&e, &out, (const uint8_t *)":path", 5,
                                           (const uint8_t *)"/", 1, PW_HPACK_F_NO_INDEX),
                     0);
    ck_assert_uint_eq(buf_size(&out), mark + 1);
    ck_assert_int_eq(buf_begin(&out)[mark], 0x84);
    mark = buf_size(&out);
    /* No-index literal: 0000xxxx with name index 4 (":path"). */
    ck_assert_int_eq(pw_hpack_encode_field(&e, &out, (const uint8_t *)":path", 5,
                                           (const uint8_t *)"/x.Svc/Call", 11, PW_HPACK_F_NO_INDEX),
                     0);
    ck_assert_int_eq(buf_begin(&out)[mark], 0x04);
    ck_assert_uint_eq(e.table.count, 0);
    /* A value whose Huffman form is longer than itself goes raw (H = 0). */
    mark = buf_size(&out);
    const uint8_t ctl[4] = {1, 2, 3, 4};
    ck_assert_int_eq(pw_hpack_encode_field(&e, &out, (const uint8_t *)"x-bin", 5, ctl, 4, 0), 0);
    ck_assert_int_eq(buf_begin(&out)[mark], 0x40);
    ck_assert_int_eq(buf_begin(&out)[mark + 1] & 0x80, 0x80);    /* name "x-bin" is shorter coded */
    ck_assert_int_eq(buf_begin(&out)[buf_size(&out) - 5], 0x04); /* raw value, length 4 */
    ck_assert_uint_eq(e.table.count, 1);
    /* A field larger than the whole table is sent without indexing and leaves the table be. */
    static uint8_t big[5000];
    memset(big, 'v', sizeof(big));
    mark = buf_size(&out);
    ck_assert_int_eq(
        pw_hpack_encode_field(&e, &out, (const uint8_t *)"x-big", 5, big, sizeof(big), 0),
        -ENOBUFS); /* out's cap is 4096 */
    ck_assert_uint_eq(buf_size(&out), mark);
    ck_assert_uint_eq(e.table.count, 1);
    buf_deinit(&out);
    buf_init(&out, 1 << 16);
    ck_assert_int_eq(
        pw_hpack_encode_field(&e, &out, (const uint8_t *)"x-big", 5, big, sizeof(big), 0), 0);
    ck_assert_int_eq(buf_begin(&out)[0], 0x00);
    ck_assert_uint_eq(e.table.count, 1);
    buf_deinit(&out);
    pw_hpack_enc_deinit(&e);
    pw_hpack_dec_deinit(&d);
}
END_TEST

/* Every static entry encodes as its one-byte index; every static name with another value as
 * a literal naming the first entry with that name (RFC 7541 Appendix A). */
START_TEST(test_encode_static_all)
{
    static const char *const names[61] = {":authority",
                                          ":method",
                                          ":method",
                                          ":path",
                                          ":path",
                                          ":scheme",
                                          ":scheme",
                                          ":status",
                                          ":status",
                                          ":status",
                                          ":status",
                                          ":status",
                                          ":status",
                                          ":status",
                                          "accept-charset",
                                          "accept-encoding",
                                          "accept-language",
                                          "accept-ranges",
                                          "accept",
                                          "access-control-allow-origin",
                                          "age",
                                          "allow",
                                          "authorization",
                                          "cache-control",
                                          "content-disposition",
                                          "content-encoding",
                                          "content-language",
                                          "content-length",
                                          "content-location",
                                          "content-range",
                                          "content-type",
                                          "cookie",
                                          "date",
                                          "etag",
                                          "expect",
                                          "expires",
                                          "from",
                                          "host",
                                          "if-match",
                                          "if-modified-since",
                                          "if-none-match",
                                          "if-range",
                                          "if-unmodified-since",
                                          "last-modified",
                                          "link",
                                          "location",
                                          "max-forwards",
                                          "proxy-authenticate",
                                          "proxy-authorization",
                                          "range",
                                          "referer",
                                          "refresh",
                                          "retry-after",
                                          "server",
                                          "set-cookie",
                                          "strict-transport-security",
                                          "transfer-encoding",
                                          "user-agent",
                                          "vary",
                                          "via",
                                          "www-authenticate"};
    static const char *const values[15] = {"",     "GET",   "POST", "/",   "/index.html",
                                           "http", "https", "200",  "204", "206",
                                           "304",  "400",   "404",  "500", ""};
    pw_hpack_enc e;
    pw_hpack_enc_init(&e, 4096);
    for (int i = 0; i < 61; i++) {
        const char *v = i < 15 ? values[i] : (i == 15 ? "gzip, deflate" : "");
        buf out;
        buf_init(&out, 256);
        ck_assert_int_eq(pw_hpack_encode_field(&e, &out, (const uint8_t *)names[i],
                                               strlen(names[i]), (const uint8_t *)v, strlen(v), 0),
                         0);
        ck_assert_uint_eq(buf_size(&out), 1);
        ck_assert_int_eq(buf_begin(&out)[0], 0x80 | (i + 1));
        buf_consume(&out, 1);
        ck_assert_int_eq(pw_hpack_encode_field(&e, &out, (const uint8_t *)names[i],
                                               strlen(names[i]), (const uint8_t *)"zz", 2,
                                               PW_HPACK_F_NO_INDEX),
                         0);
        int first = i;
        while (first > 0 && strcmp(names[first - 1], names[i]) == 0) first--;
        const uint8_t *p = buf_begin(&out);
        const int idx = p[0] < 0x0f ? p[0] : 0x0f + p[1];
        ck_assert_int_eq(idx, first + 1);
        buf_deinit(&out);
    }
    ck_assert_uint_eq(e.table.count, 0);
    pw_hpack_enc_deinit(&e);
}
END_TEST

START_TEST(test_encode_roundtrip_flags)
{
    pw_hpack_enc e;
    pw_hpack_dec d;
    pw_hpack_enc_init(&e, 4096);
    pw_hpack_dec_init(&d, 4096);
    const char *list = ":method: POST\n:scheme: http\n:path: /ringq.Queue/Put\n"
                       ":authority: localhost:7070\ncontent-type: application/grpc\nte: trailers\n"
                       "authorization: Bearer abc!\ngrpc-timeout: 1S\nuser-agent: ringq/1\n";
    for (int round = 0; round < 3; round++) {
        buf out;
        buf_init(&out, 4096);
        encode_list(&e, &out, list);
        collect c = {0};
        ck_assert_int_eq(pw_hpack_decode_block(&d, buf_begin(&out), buf_size(&out), BIG_LIST,
                                               on_field, &c, NULL),
                         0);
        ck_assert_str_eq(c.text, list);
        check_tables_equal(&e.table, &d.table);
        if (round > 0) ck_assert_uint_le(buf_size(&out), 40); /* repeats are mostly indexes */
        buf_deinit(&out);
    }
    pw_hpack_enc_deinit(&e);
    pw_hpack_dec_deinit(&d);
}
END_TEST

START_TEST(test_encode_size_updates)
{
    pw_hpack_enc e;
    pw_hpack_dec d;
    buf out;
    collect c;
    uint8_t want[16];
    pw_hpack_enc_init(&e, 4096);
    pw_hpack_dec_init(&d, 4096);
    buf_init(&out, 4096);
    encode_list(&e, &out, req_list[2]);
    ck_assert_int_eq(pw_hpack_decode_block(&d, buf_begin(&out), buf_size(&out), BIG_LIST, on_field,
                                           (memset(&c, 0, sizeof(c)), &c), NULL),
                     0);
    ck_assert_uint_eq(d.table.count, 2);
    buf_consume(&out, buf_size(&out));

    /* 0 then 4096 between blocks: both signalled, smallest first (§4.2): 20 3fe11f. */
    pw_hpack_enc_set_max_table_size(&e, 0);
    pw_hpack_enc_set_max_table_size(&e, 4096);
    ck_assert_int_eq(pw_hpack_encode_begin(&e, &out), 0);
    ck_assert_uint_eq(buf_size(&out), unhex("20 3fe11f", want));
    ck_assert_mem_eq(buf_begin(&out), want, 4);
    ck_assert_uint_eq(e.table.count, 0);
    ck_assert_int_eq(
        pw_hpack_encode_field(&e, &out, (const uint8_t *)"a", 1, (const uint8_t *)"b", 1, 0), 0);
    ck_assert_int_eq(pw_hpack_decode_block(&d, buf_begin(&out), buf_size(&out), BIG_LIST, on_field,
                                           (memset(&c, 0, sizeof(c)), &c), NULL),
                     0);
    check_tables_equal(&e.table, &d.table);
    buf_consume(&out, buf_size(&out));

    /* 1000 then 2000: 3fc907 (1000) then 3fb10f (2000). */
    pw_hpack_enc_set_max_table_size(&e, 1000);
    pw_hpack_enc_set_max_table_size(&e, 2000);
    ck_assert_int_eq(pw_hpack_encode_begin(&e, &out), 0);
    ck_assert_uint_eq(buf_size(&out), unhex("3fc907 3fb10f", want));
    ck_assert_mem_eq(buf_begin(&out), want, 6);
    ck_assert_uint_eq(e.table.max_size, 2000);
    ck_assert_int_eq(pw_hpack_decode_block(&d, buf_begin(&out), buf_size(&out), BIG_LIST, on_field,
                                           (memset(&c, 0, sizeof(c)), &c), NULL),
                     0);
    ck_assert_uint_eq(d.table.max_size, 2000);
    buf_consume(&out, buf_size(&out));

    /* Back to 2000 (unchanged), and then a next begin: nothing pending, nothing written. */
    pw_hpack_enc_set_max_table_size(&e, 2000);
    ck_assert_int_eq(pw_hpack_encode_begin(&e, &out), 0);
    ck_assert_int_eq(pw_hpack_encode_begin(&e, &out), 0);
    ck_assert_uint_eq(buf_size(&out), 0);

    /* Larger than the encoder's cap: the encoder uses PW_HPACK_ENC_TABLE_SIZE_MAX. */
    pw_hpack_enc_set_max_table_size(&e, 1u << 20);
    ck_assert_int_eq(pw_hpack_encode_begin(&e, &out), 0);
    ck_assert_uint_eq(e.table.max_size, PW_HPACK_ENC_TABLE_SIZE_MAX);
    buf_consume(&out, buf_size(&out));
    buf_deinit(&out);
    pw_hpack_enc_deinit(&e);

    /* An encoder starting above its cap announces the cap in its first block. */
    buf_init(&out, 4096);
    pw_hpack_enc_init(&e, 65536);
    ck_assert_int_eq(pw_hpack_encode_begin(&e, &out), 0);
    ck_assert_uint_eq(buf_size(&out), unhex("3fe11f", want));
    ck_assert_mem_eq(buf_begin(&out), want, 3);
    /* An update that does not fit the output stays pending. */
    buf_deinit(&out);
    pw_hpack_enc_set_max_table_size(&e, 100);
    buf_init(&out, 4);
    ck_assert_int_eq(pw_hpack_encode_begin(&e, &out), -ENOBUFS);
    ck_assert_uint_eq(e.table.max_size, 4096);
    buf_deinit(&out);
    buf_init(&out, 64);
    ck_assert_int_eq(pw_hpack_encode_begin(&e, &out), 0);
    ck_assert_uint_eq(e.table.max_size, 100);
    buf_deinit(&out);
    pw_hpack_enc_deinit(&e);
    pw_hpack_dec_deinit(&d);
}
END_TEST

/* ---- decoder errors ---------------------------------------------------------------------- */

static void expect_fault(uint32_t settings, const char *hex, const char *why)
{
    pw_hpack_dec d;
    collect c;
    const char *err = NULL;
    pw_hpack_dec_init(&d, settings);
    ck_assert_int_eq(decode_hex(&d, hex, &c, BIG_LIST, &err), PW_HPACK_ERR_COMPRESSION);
    ck_assert_ptr_nonnull(err);
    if (why) ck_assert_str_eq(err, why);
    ck_assert(d.failed);
    /* Sticky: even a valid block is refused now. */
    ck_assert_int_eq(decode_hex(&d, "82", &c, BIG_LIST, &err), PW_HPACK_ERR_COMPRESSION);
    ck_assert_str_eq(err, "decoder failed earlier");
    ck_assert_int_eq(c.count, 0);
    pw_hpack_dec_deinit(&d);
}

static void expect_ok(uint32_t settings, const char *hex, const char *list)
{
    pw_hpack_dec d;
    collect c;
    pw_hpack_dec_init(&d, settings);
    ck_assert_int_eq(decode_hex(&d, hex, &c, BIG_LIST, NULL), 0);
    ck_assert_str_eq(c.text, list);
    pw_hpack_dec_deinit(&d);
}

START_TEST(test_bad_index)
{
    expect_fault(4096, "80", "index 0");
    expect_fault(4096, "be", "index out of range");       /* 62, empty table */
    expect_fault(4096, "7e 01 61", "index out of range"); /* literal, name index 62 */
    expect_fault(4096, "ff 80 01", "index out of range"); /* 127 + 128 */
    expect_ok(4096, "bd", "www-authenticate: \n");        /* 61: last static */
    /* One dynamic entry: 62 valid, 63 not. */
    expect_ok(4096, "4001 6101 62 be", "a: b\na: b\n");
    expect_fault(4096, "4001 6101 62 bf", "index out of range");
}
END_TEST

START_TEST(test_bad_integers)
{
    /* 127 + 0x7f + 0x7f<<7 + 0x7f<<14 + 0x7f<<21 + 0x0f<<28 = 2^32 + 126 */
    expect_fault(4096, "ff ff ff ff ff 0f", "integer overflow");
    /* Six continuation octets, even zero padding. */
    expect_fault(4096, "ff 80 80 80 80 80 00", "integer too long");
    expect_fault(4096, "3f e1 9f 80 80 80 00", "integer too long");
    expect_fault(4096, "ff", "truncated integer");
    expect_fault(4096, "ff 80", "truncated integer");
    expect_fault(4096, "00 7f", "truncated integer"); /* string length cut */
    /* Five continuations (zero padded) are within the limit: 31 + 97 + 31 * 128 = 4096. */
    expect_ok(4096, "3f e1 9f 80 80 00 82", ":method: GET\n");
    /* Largest 32-bit string length: cut block, but the integer itself is fine. */
    expect_fault(4096, "00 7f 80 ff ff ff 0f", "string longer than the block");
}
END_TEST

START_TEST(test_bad_strings)
{
    expect_fault(4096, "00 05 61", "string longer than the block");
    expect_fault(4096, "00", "truncated string");
    expect_fault(4096, "00 01 61", "truncated string"); /* no value */
    expect_fault(4096, "40 01", "string longer than the block");
    /* Huffman: EOS, long padding, padding not ones, in names and values. */
    expect_fault(4096, "00 84 ffffffff 01 61", "invalid Huffman string");
    expect_fault(4096, "00 01 61 82 1fff", "invalid Huffman string");
    expect_fault(4096, "00 01 61 81 18", "invalid Huffman string");
    expect_ok(4096, "00 81 1f 81 1f", "a: a\n");
    expect_ok(4096, "00 80 80", ": \n"); /* empty Huffman strings */
}
END_TEST

START_TEST(test_size_updates)
{
    expect_fault(4096, "3f e2 1f", "table size update above the setting"); /* 4097 */
    expect_fault(4096, "82 20", "table size update after a field");
    expect_fault(4096, "20 82 3f e1 1f", "table size update after a field");
    expect_ok(4096, "20 3f e1 1f 82", ":method: GET\n"); /* two at the start */
    expect_ok(4096, "20", "");                           /* a block of just an update */

    /* Shrinking evicts, 0 empties, growing back keeps what is left. */
    pw_hpack_dec d;
    collect c;
    pw_hpack_dec_init(&d, 4096);
    ck_assert_int_eq(decode_hex(&d, c3_hex[0], &c, BIG_LIST, NULL), 0);
    ck_assert_int_eq(decode_hex(&d, c3_hex[1], &c, BIG_LIST, NULL), 0);
    ck_assert_int_eq(decode_hex(&d, "3f 37", &c, BIG_LIST, NULL), 0); /* 86: keeps the newest */
    check_table(&d.table, 53, "cache-control: no-cache\n");
    ck_assert_int_eq(decode_hex(&d, "20 3f e1 1f be", &c, BIG_LIST, NULL),
                     PW_HPACK_ERR_COMPRESSION); /* emptied by 0: 62 is gone */
    pw_hpack_dec_deinit(&d);

    /* Our setting lowered and acked: the next block must open with an update <= it. */
    pw_hpack_dec_init(&d, 4096);
    ck_assert_int_eq(decode_hex(&d, c3_hex[0], &c, BIG_LIST, NULL), 0);
    pw_hpack_dec_set_settings_max(&d, 100);
    ck_assert(d.update_required);
    const char *err = NULL;
    pw_hpack_dec d2 = d; /* shallow copy: try the failing path on one, the good on the other */
    ck_assert_int_eq(decode_hex(&d2, "3f e1 1f 82", &c, BIG_LIST, &err),
                     PW_HPACK_ERR_COMPRESSION); /* 4096 > 100 */
    ck_assert_str_eq(err, "table size update above the setting");
    d.failed = false;
    ck_assert_int_eq(decode_hex(&d, "3f 45 82", &c, BIG_LIST, NULL), 0); /* 31 + 69 = 100 */
    ck_assert(!d.update_required);
    ck_assert_uint_eq(d.table.max_size, 100);
    check_table(&d.table, 57, ":authority: www.example.com\n");
    pw_hpack_dec_deinit(&d);

    pw_hpack_dec_init(&d, 4096);
    pw_hpack_dec_set_settings_max(&d, 100);
    ck_assert_int_eq(decode_hex(&d, "82", &c, BIG_LIST, &err), PW_HPACK_ERR_COMPRESSION);
    ck_assert_str_eq(err, "missing required table size update");
    pw_hpack_dec_deinit(&d);
    pw_hpack_dec_init(&d, 4096);
    pw_hpack_dec_set_settings_max(&d, 100);
    ck_assert_int_eq(decode_hex(&d, "", &c, BIG_LIST, &err), PW_HPACK_ERR_COMPRESSION);
    pw_hpack_dec_deinit(&d);
    /* Raising the setting asks for nothing. */
    pw_hpack_dec_init(&d, 4096);
    pw_hpack_dec_set_settings_max(&d, 8192);
    ck_assert(!d.update_required);
    ck_assert_int_eq(decode_hex(&d, "3f e1 3f 82", &c, BIG_LIST, NULL), 0); /* 8192 */
    ck_assert_uint_eq(d.table.max_size, 8192);
    pw_hpack_dec_deinit(&d);
}
END_TEST

START_TEST(test_emit_error)
{
    pw_hpack_dec d;
    pw_hpack_dec_init(&d, 4096);
    uint8_t block[64];
    const size_t n = unhex(c3_hex[0], block);
    collect c = {.stop_at = 2};
    ck_assert_int_eq(pw_hpack_decode_block(&d, block, n, BIG_LIST, on_field, &c, NULL), -42);
    ck_assert_int_eq(c.count, 2);
    ck_assert(d.failed);
    pw_hpack_dec_deinit(&d);
}
END_TEST

/* ---- limits: list size, bombs, scratch --------------------------------------------------- */

START_TEST(test_list_too_large_keeps_sync)
{
    for (int huff = 0; huff < 2; huff++) {
        const char *const *hex = huff ? c4_hex : c3_hex;
        pw_hpack_dec d;
        collect c;
        pw_hpack_dec_init(&d, 4096);
        /* :method: GET is 42, :scheme: http 43: 60 admits only the first field. */
        ck_assert_int_eq(decode_hex(&d, hex[0], &c, 60, NULL), PW_HPACK_ERR_LIST_TOO_LARGE);
        ck_assert_str_eq(c.text, ":method: GET\n");
        ck_assert(!d.failed);
        check_table(&d.table, req_size[0], req_table[0]); /* the literal was still indexed */
        /* Nothing of the next block fits; the table still follows. */
        ck_assert_int_eq(decode_hex(&d, hex[1], &c, 10, NULL), PW_HPACK_ERR_LIST_TOO_LARGE);
        ck_assert_int_eq(c.count, 0);
        check_table(&d.table, req_size[1], req_table[1]);
        /* And the third decodes normally against the synced table. */
        ck_assert_int_eq(decode_hex(&d, hex[2], &c, BIG_LIST, NULL), 0);
        ck_assert_str_eq(c.text, req_list[2]);
        check_table(&d.table, req_size[2], req_table[2]);
        pw_hpack_dec_deinit(&d);
    }
    /* Exactly at the limit is fine: 42 + 43 = 85. */
    pw_hpack_dec d;
    collect c;
    pw_hpack_dec_init(&d, 4096);
    ck_assert_int_eq(decode_hex(&d, "82 86", &c, 85, NULL), 0);
    ck_assert_int_eq(decode_hex(&d, "82 86", &c, 84, NULL), PW_HPACK_ERR_LIST_TOO_LARGE);
    /* A malformed tail after the limit is still a connection error. */
    ck_assert_int_eq(decode_hex(&d, "82 86 80", &c, 50, NULL), PW_HPACK_ERR_COMPRESSION);
    pw_hpack_dec_deinit(&d);
}
END_TEST

START_TEST(test_index_bomb)
{
    /* One 4096-octet entry, then 3000 one-byte references to it: 12 MB of "headers". */
    static uint8_t block[8192];
    size_t n = 0;
    block[n++] = 0x40;
    block[n++] = 0x01;
    block[n++] = 'x';
    const size_t vlen = 4096 - 32 - 1; /* name "x": the entry fills the table exactly */
    block[n++] = 0x7f;                 /* value length: 127 + continuation */
    const size_t rest = vlen - 127;
    block[n++] = (uint8_t)(0x80 | (rest & 0x7f));
    block[n++] = (uint8_t)(rest >> 7);
    memset(block + n, 'v', vlen);
    n += vlen;
    pw_hpack_dec d;
    pw_hpack_dec_init(&d, 4096);
    collect c = {.count_only = true};
    ck_assert_int_eq(pw_hpack_decode_block(&d, block, n, BIG_LIST, on_field, &c, NULL), 0);
    ck_assert_uint_eq(d.table.size, 4096);
    memset(block, 0xbe, 3000);
    c.count = 0;
    ck_assert_int_eq(pw_hpack_decode_block(&d, block, 3000, 16384, on_field, &c, NULL),
                     PW_HPACK_ERR_LIST_TOO_LARGE);
    ck_assert_int_eq(c.count, 4); /* 4 x 4096 fit 16384 exactly, the 5th does not */
    ck_assert(!d.failed);
    pw_hpack_dec_deinit(&d);
}
END_TEST

START_TEST(test_huffman_bomb_bounded)
{
    /* 3000 octets of Huffman '0' (5 bits): 4800 decoded octets per string. */
    static uint8_t block[8192], zeros[4800];
    memset(zeros, '0', sizeof(zeros));
    for (int indexing = 0; indexing < 2; indexing++) {
        size_t n = 0;
        block[n++] = indexing ? 0x40 : 0x00;
        block[n++] = 0x01;
        block[n++] = 'x';
        const size_t hlen = pw_huff_encoded_len(zeros, sizeof(zeros));
        ck_assert_uint_eq(hlen, 3000);
        block[n++] = 0xff; /* Huffman, 127 + ... */
        block[n++] = (uint8_t)(0x80 | ((hlen - 127) & 0x7f));
        block[n++] = (uint8_t)((hlen - 127) >> 7);
        n += pw_huff_encode(block + n, zeros, sizeof(zeros));
        block[n++] = 0x82;
        pw_hpack_dec d;
        pw_hpack_dec_init(&d, 256);
        collect c = {0};
        ck_assert_int_eq(decode_hex(&d, "4001 6101 62", &c, BIG_LIST, NULL), 0);
        ck_assert_uint_eq(d.table.count, 1);
        memset(&c, 0, sizeof(c));
        ck_assert_int_eq(pw_hpack_decode_block(&d, block, n, 1024, on_field, &c, NULL),
                         PW_HPACK_ERR_LIST_TOO_LARGE);
        ck_assert_int_eq(c.count, 0);
        ck_assert_uint_le(d.scratch_cap, 1024 + PW_HPACK_SCRATCH_SLACK_BYTES);
        ck_assert_uint_eq(d.table.count, indexing ? 0 : 1); /* too big: empties the table */
        /* The same bomb with a broken tail is still caught while dropped. */
        /* 4800 x 5 bits end on a byte: make the last byte "111" ('o' ends) + "11110". */
        block[n - 2] = 0xfe;
        ck_assert_int_eq(pw_hpack_decode_block(&d, block, n, 1024, on_field, &c, NULL),
                         PW_HPACK_ERR_COMPRESSION);
        pw_hpack_dec_deinit(&d);
    }
}
END_TEST

/* ---- dynamic table eviction -------------------------------------------------------------- */

START_TEST(test_eviction_edges)
{
    pw_hpack_dec d;
    collect c;
    /* Table of 100: "aaaa" + 64 x 'v' = 4 + 64 + 32 = 100 fits exactly. */
    char hex[512];
    pw_hpack_dec_init(&d, 100);
    int k = sprintf(hex, "40 04 61616161 40");
    for (int i = 0; i < 64; i++) k += sprintf(hex + k, "76");
    ck_assert_int_eq(decode_hex(&d, hex, &c, BIG_LIST, NULL), 0);
    ck_assert_uint_eq(d.table.count, 1);
    ck_assert_uint_eq(d.table.size, 100);
    /* New entry named by index 62 (the entry it evicts): the name must survive (§4.4). */
    ck_assert_int_eq(decode_hex(&d, "7e 01 77", &c, BIG_LIST, NULL), 0);
    ck_assert_str_eq(c.text, "aaaa: w\n");
    check_table(&d.table, 37, "aaaa: w\n");
    /* One octet over the maximum: the table empties and the field is still emitted. */
    k = sprintf(hex, "40 04 61616161 41");
    for (int i = 0; i < 65; i++) k += sprintf(hex + k, "76");
    ck_assert_int_eq(decode_hex(&d, hex, &c, BIG_LIST, NULL), 0);
    ck_assert_int_eq(c.count, 1);
    check_table(&d.table, 0, "");
    /* Oversized entry whose name is the only entry (index 62). */
    ck_assert_int_eq(decode_hex(&d, "40 01 61 01 62", &c, BIG_LIST, NULL), 0);
    k = sprintf(hex, "7e 50");
    for (int i = 0; i < 80; i++) k += sprintf(hex + k, "76");
    ck_assert_int_eq(decode_hex(&d, hex, &c, BIG_LIST, NULL), 0);
    ck_assert_uint_eq(c.len, 1 + 2 + 80 + 1);
    check_table(&d.table, 0, "");
    /* A table of 0 never holds anything. */
    ck_assert_int_eq(decode_hex(&d, "20 40 01 61 01 62", &c, BIG_LIST, NULL), 0);
    check_table(&d.table, 0, "");
    pw_hpack_dec_deinit(&d);
}
END_TEST

START_TEST(test_ring_wraparound)
{
    /* 4096 / (2 + 2 + 32) = 113 entries at most; 2000 inserts wrap and regrow the ring. */
    pw_hpack_enc e;
    pw_hpack_dec d;
    pw_hpack_enc_init(&e, 4096);
    pw_hpack_dec_init(&d, 4096);
    buf out;
    buf_init(&out, 1 << 16);
    for (int i = 0; i < 2000; i++) {
        char nv[16];
        snprintf(nv, sizeof(nv), "%04d", i);
        ck_assert_int_eq(pw_hpack_encode_begin(&e, &out), 0);
        ck_assert_int_eq(
            pw_hpack_encode_field(&e, &out, (const uint8_t *)nv, 2, (const uint8_t *)nv + 2, 2, 0),
            0);
        if (i % 7 == 3) /* re-reference an older entry: it must still be the same */
            ck_assert_int_eq(pw_hpack_encode_field(&e, &out, (const uint8_t *)nv, 2,
                                                   (const uint8_t *)nv + 2, 2, 0),
                             0);
        collect c = {0};
        ck_assert_int_eq(pw_hpack_decode_block(&d, buf_begin(&out), buf_size(&out), BIG_LIST,
                                               on_field, &c, NULL),
                         0);
        buf_consume(&out, buf_size(&out));
        if (i % 97 == 0) check_tables_equal(&e.table, &d.table);
        if (i % 500 == 250) { /* shrink and regrow mid-way */
            pw_hpack_enc_set_max_table_size(&e, 200);
            pw_hpack_enc_set_max_table_size(&e, 4096);
        }
    }
    check_tables_equal(&e.table, &d.table);
    ck_assert_uint_eq(d.table.count, 113);
    const uint8_t *n, *v;
    size_t nl, vl;
    ck_assert_int_eq(pw_hpack_table_entry(&d.table, 0, &n, &nl, &v, &vl), 0);
    ck_assert_mem_eq(n, "19", 2);
    ck_assert_mem_eq(v, "99", 2);
    ck_assert_uint_le(d.table.cap_ents, 4096 / 32 + 1);
    buf_deinit(&out);
    pw_hpack_enc_deinit(&e);
    pw_hpack_dec_deinit(&d);
}
END_TEST

/* ---- randomized encode -> decode --------------------------------------------------------- */

static uint64_t rng = 0x2545f4914f6cdd1du;
static uint64_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

typedef struct field_log {
    uint8_t data[1 << 16];
    size_t len;
} field_log;

static int on_field_log(void *ud, const uint8_t *name, size_t name_len, const uint8_t *value,
                        size_t value_len, unsigned flags)
{
    field_log *l = ud;
    ck_assert_uint_le(l->len + name_len + value_len + 24, sizeof(l->data));
    memcpy(l->data + l->len, &name_len, sizeof(size_t)), l->len += sizeof(size_t);
    memcpy(l->data + l->len, name, name_len), l->len += name_len;
    memcpy(l->data + l->len, &value_len, sizeof(size_t)), l->len += sizeof(size_t);
    memcpy(l->data + l->len, value, value_len), l->len += value_len;
    l->data[l->len++] = (uint8_t)(flags & PW_HPACK_F_NEVER_INDEXED);
    return 0;
}

START_TEST(test_random_roundtrip)
{
    static const char *const names[] = {":method",      ":path",      "content-type",
                                        "grpc-timeout", "x-a",        "x-b",
                                        "cookie",       "set-cookie", ""};
    static const char *const values[] = {"GET", "POST",         "/", "application/grpc", "",
                                         "1S",  "gzip, deflate"};
    static field_log want, got;
    pw_hpack_enc e;
    pw_hpack_dec d;
    pw_hpack_enc_init(&e, 4096);
    pw_hpack_dec_init(&d, 4096);
    buf out;
    buf_init(&out, 1 << 20);
    for (int block = 0; block < 400; block++) {
        if (rnd() % 8 == 0) pw_hpack_enc_set_max_table_size(&e, (uint32_t)(rnd() % 5000));
        want.len = got.len = 0;
        ck_assert_int_eq(pw_hpack_encode_begin(&e, &out), 0);
        const int nfields = (int)(rnd() % 12);
        for (int f = 0; f < nfields; f++) {
            uint8_t nb[64], vb[300];
            size_t nl, vl;
            if (rnd() % 2) {
                const char *s = names[rnd() % (sizeof(names) / sizeof(names[0]))];
                nl = strlen(s);
                memcpy(nb, s, nl);
            } else {
                nl = rnd() % sizeof(nb);
                for (size_t i = 0; i < nl; i++) nb[i] = (uint8_t)rnd();
            }
            if (rnd() % 2) {
                const char *s = values[rnd() % (sizeof(values) / sizeof(values[0]))];
                vl = strlen(s);
                memcpy(vb, s, vl);
            } else {
                vl = rnd() % sizeof(vb);
                const int ascii = rnd() % 2;
                for (size_t i = 0; i < vl; i++) vb[i] = (uint8_t)(ascii ? 'a' + rnd() % 26 : rnd());
            }
            const unsigned flags = (unsigned)(rnd() % 4 == 0 ? rnd() % 3 : 0);
            ck_assert_int_eq(pw_hpack_encode_field(&e, &out, nb, nl, vb, vl, flags), 0);
            on_field_log(&want, nb, nl, vb, vl, flags);
        }
        ck_assert_int_eq(pw_hpack_decode_block(&d, buf_begin(&out), buf_size(&out), BIG_LIST,
                                               on_field_log, &got, NULL),
                         0);
        ck_assert_uint_eq(got.len, want.len);
        ck_assert_mem_eq(got.data, want.data, want.len);
        check_tables_equal(&e.table, &d.table);
        buf_consume(&out, buf_size(&out));
    }
    buf_deinit(&out);
    pw_hpack_enc_deinit(&e);
    pw_hpack_dec_deinit(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pw_hpack");
    TCase *rfc = tcase_create("rfc7541_appendix_c");
    tcase_add_test(rfc, test_c2_fields);
    tcase_add_test(rfc, test_c3_requests);
    tcase_add_test(rfc, test_c4_requests_huffman);
    tcase_add_test(rfc, test_c5_responses);
    tcase_add_test(rfc, test_c6_responses_huffman);
    suite_add_tcase(s, rfc);
    TCase *enc = tcase_create("encoder");
    tcase_add_test(enc, test_encode_c4_exact);
    tcase_add_test(enc, test_encode_c6_exact);
    tcase_add_test(enc, test_encode_flags);
    tcase_add_test(enc, test_encode_static_all);
    tcase_add_test(enc, test_encode_roundtrip_flags);
    tcase_add_test(enc, test_encode_size_updates);
    tcase_add_test(enc, test_random_roundtrip);
    suite_add_tcase(s, enc);
    TCase *err = tcase_create("decoder_errors");
    tcase_add_test(err, test_bad_index);
    tcase_add_test(err, test_bad_integers);
    tcase_add_test(err, test_bad_strings);
    tcase_add_test(err, test_size_updates);
    tcase_add_test(err, test_emit_error);
    suite_add_tcase(s, err);
    TCase *lim = tcase_create("limits");
    tcase_add_test(lim, test_list_too_large_keeps_sync);
    tcase_add_test(lim, test_index_bomb);
    tcase_add_test(lim, test_huffman_bomb_bounded);
    tcase_add_test(lim, test_eviction_edges);
    tcase_add_test(lim, test_ring_wraparound);
    suite_add_tcase(s, lim);
    return ts_run_suite(s);
}
