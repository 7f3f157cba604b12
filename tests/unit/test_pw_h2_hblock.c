/* Unit tests for pw_h2_hblock's decoded-block cache: a request header block byte-identical to
 * the last one, under an HPACK table it did not change, is delivered without decoding again;
 * a block that inserts into the table, or one received after the table moved, is decoded. */
#include "tests/unit/test_pw_h2_peer.h"
#include "ts_main.h"

static void start(void) { tp_start_server(NULL); }
static void stop(void) { tp_stop(); }

/* :method POST (static 3), :scheme http (static 6), :path as a literal without indexing on the
 * static name 4 (RFC 7541 §6.2.2): changes nothing in the decoder's table. */
#define BASE "\x83\x86\x04\x06/svc/M"
#define BASE_TEXT ":method: POST\n:scheme: http\n:path: /svc/M\n"
/* Literal with incremental indexing, new name (§6.2.1): inserts "x-a: <v>". */
#define INSERT(v) "\x40\x03x-a\x01" v
/* Indexed field 62 (§6.1): the newest dynamic entry. */
#define DYN62 "\xbe"

static uint64_t hits(void)
{
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    return st.hblocks_decoded_cached;
}

/* Sends `len` bytes of `block` as one HEADERS (END_HEADERS | END_STREAM) on `sid` and returns
 * the headers the session delivered, as "name: value\n" lines. */
static const char *send_block(uint32_t sid, const char *block, size_t len)
{
    ck_assert_int_eq(pw_h2_write_headers(&tp_in, sid,
                                         PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, NULL,
                                         (const uint8_t *)block, len, -1),
                     0);
    const size_t before = tp_count('H');
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_count('H'), before + 1);
    tp_ev *e = tp_last('H');
    ck_assert_uint_eq(e->sid, sid);
    return e->text;
}
#define SEND(sid, lit) send_block((sid), lit, sizeof lit - 1)

/* The peer's encoder: its first request inserts its fields, the second is all indexes (static
 * and dynamic) and inserts nothing, the third is the same bytes again: delivered from the
 * cache, the same list. */
START_TEST(identical_indexed_block_is_delivered_from_cache)
{
    buf b[3];
    for (size_t i = 0; i < 3; i++) {
        buf_init(&b[i], 1 << 16);
        tp_encode(&b[i], TP_REQ);
    }
    ck_assert_uint_eq(buf_size(&b[1]), buf_size(&b[2]));
    ck_assert_mem_eq(buf_begin(&b[1]), buf_begin(&b[2]), buf_size(&b[1]));
    for (size_t i = 0; i < 3; i++) {
        const char *text = send_block((uint32_t)(1 + 2 * i), (const char *)buf_begin(&b[i]),
                                      buf_size(&b[i]));
        ck_assert_str_eq(text, TP_REQ);
        ck_assert_uint_eq(hits(), i == 2 ? 1 : 0);
    }
    /* And every later one. */
    ck_assert_str_eq(send_block(7, (const char *)buf_begin(&b[2]), buf_size(&b[2])), TP_REQ);
    ck_assert_uint_eq(hits(), 2);
    for (size_t i = 0; i < 3; i++) buf_deinit(&b[i]);
}
END_TEST

/* A block that inserts is decoded every time: each copy adds an entry, so the same bytes do not
 * leave the table the same. */
START_TEST(block_that_inserts_is_never_cached)
{
    for (uint32_t sid = 1; sid <= 9; sid += 2) {
        ck_assert_str_eq(SEND(sid, BASE INSERT("1")), BASE_TEXT "x-a: 1\n");
        ck_assert_uint_eq(hits(), 0);
    }
}
END_TEST

/* A cached block that names dynamic entry 62: once another block inserts, index 62 is another
 * field, and the same bytes must decode to it, not to the kept list. */
START_TEST(cached_dynamic_index_follows_the_table)
{
    ck_assert_str_eq(SEND(1, BASE INSERT("1")), BASE_TEXT "x-a: 1\n");
    ck_assert_str_eq(SEND(3, BASE DYN62), BASE_TEXT "x-a: 1\n"); /* decoded, kept */
    ck_assert_uint_eq(hits(), 0);
    ck_assert_str_eq(SEND(5, BASE DYN62), BASE_TEXT "x-a: 1\n"); /* from the cache */
    ck_assert_uint_eq(hits(), 1);
    ck_assert_str_eq(SEND(7, BASE INSERT("2")), BASE_TEXT "x-a: 2\n"); /* the table moves */
    ck_assert_str_eq(SEND(9, BASE DYN62), BASE_TEXT "x-a: 2\n");       /* decoded again */
    ck_assert_uint_eq(hits(), 1);
    ck_assert_str_eq(SEND(11, BASE DYN62), BASE_TEXT "x-a: 2\n");
    ck_assert_uint_eq(hits(), 2);
}
END_TEST

/* A dynamic table size update (§6.3) changes the decoder: a block that starts with one is
 * never served from the cache, and the size it sets holds (a later insertion bigger than the
 * table empties it, so index 62 no longer exists: COMPRESSION_ERROR). */
START_TEST(size_update_is_never_cached)
{
    ck_assert_str_eq(SEND(1, BASE INSERT("1")), BASE_TEXT "x-a: 1\n");
    ck_assert_str_eq(SEND(3, "\x20" BASE), BASE_TEXT); /* size 0: the table empties */
    ck_assert_str_eq(SEND(5, "\x20" BASE), BASE_TEXT);
    ck_assert_uint_eq(hits(), 0);
    ck_assert_int_eq(pw_h2_write_headers(&tp_in, 7, PW_H2_FLAG_END_HEADERS, NULL,
                                         (const uint8_t *)BASE DYN62, sizeof BASE DYN62 - 1, -1),
                     0);
    ck_assert_int_lt(tp_flush(), 0);
    ck_assert_uint_eq(tp_goaway(), PW_H2_COMPRESSION_ERROR);
}
END_TEST

/* A malformed request is not kept: the same bytes again are refused again (§8.1.1). */
START_TEST(malformed_block_is_refused_every_time)
{
    static const char bad[] = "\x83\x86"; /* no :path */
    for (uint32_t sid = 1; sid <= 5; sid += 2) {
        ck_assert_int_eq(pw_h2_write_headers(&tp_in, sid, PW_H2_FLAG_END_HEADERS, NULL,
                                             (const uint8_t *)bad, sizeof bad - 1, -1),
                         0);
        ck_assert_int_ge(tp_flush(), 0);
        ck_assert_uint_eq(tp_rst(sid), PW_H2_PROTOCOL_ERROR);
        tp_out_reset();
    }
    ck_assert_uint_eq(tp_count('H'), 0);
    ck_assert_uint_eq(hits(), 0);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("pw_h2_hblock");
    TCase *tc = tcase_create("dcache");
    tcase_add_checked_fixture(tc, start, stop);
    tcase_add_test(tc, identical_indexed_block_is_delivered_from_cache);
    tcase_add_test(tc, block_that_inserts_is_never_cached);
    tcase_add_test(tc, cached_dynamic_index_follows_the_table);
    tcase_add_test(tc, size_update_is_never_cached);
    tcase_add_test(tc, malformed_block_is_refused_every_time);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
