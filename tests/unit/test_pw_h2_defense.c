/* Unit tests for the pw_h2 session's defences: each mounts the attack against a server
 * session and checks it is stopped (GOAWAY ENHANCE_YOUR_CALM or a stream error) with bounded
 * memory, and that well-behaved traffic at the same scale is not. */
#include <malloc.h>

#include "tests/unit/test_pw_h2_peer.h"
#include "ts_main.h"

static void start(void) { tp_start_server(NULL); }
static void stop(void) { tp_stop(); }

static uint8_t chunk[16384];

static size_t allocated(void)
{
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    return st.allocated_bytes;
}

/* ---- CVE-2023-44487 rapid reset ---- */

START_TEST(rapid_reset_is_stopped)
{
    uint32_t sid = 1;
    ssize_t r = 0;
    for (; sid < 4000 && r >= 0; sid += 2) {
        tp_request(sid, false);
        ck_assert_int_eq(pw_h2_write_rst_stream(&tp_in, sid, PW_H2_CANCEL), 0);
        r = tp_flush();
    }
    ck_assert_int_eq(r, PW_H2_ERR_ENHANCE_YOUR_CALM);
    uint32_t resets = (sid - 1) / 2;
    ck_assert_uint_ge(resets, PW_H2_RESET_BURST);
    ck_assert_uint_le(resets, PW_H2_RESET_BURST + 1);
    ck_assert_uint_eq(tp_goaway(), PW_H2_ENHANCE_YOUR_CALM);
    ck_assert_uint_eq(tp_count('C'), resets); /* every opened stream closed once */
}
END_TEST

START_TEST(cancel_rate_within_budget_is_fine)
{
    for (uint32_t sid = 1; sid < 6000; sid += 2) { /* 3000 cancels at 50 per second */
        tp_now += 20 * 1000000ull;
        tp_request(sid, false);
        ck_assert_int_eq(pw_h2_write_rst_stream(&tp_in, sid, PW_H2_CANCEL), 0);
        ck_assert_int_ge(tp_flush(), 0);
        tp_drain();
        tp_out_reset();
    }
    ck_assert_uint_eq(tp_count('C'), 3000);
}
END_TEST

/* "Made you reset" and CVE-2019-9514: requests we must reset draw from the same budget. */
START_TEST(provoked_resets_are_stopped)
{
    ssize_t r = 0;
    for (uint32_t sid = 1; sid < 4000 && r >= 0; sid += 2) {
        tp_headers(sid, PW_H2_FLAG_END_HEADERS, ":method: GET\n"); /* malformed */
        r = tp_flush();
    }
    ck_assert_int_eq(r, PW_H2_ERR_ENHANCE_YOUR_CALM);
    ck_assert_uint_eq(tp_count('H'), 0);
}
END_TEST

/* CVE-2019-9514 with time passing: the budget refills, but a peer that does not read its
 * RST_STREAMs hits the control-frame queue limit. */
START_TEST(reset_flood_without_reading)
{
    ssize_t r = 0;
    for (uint32_t sid = 1; sid < 4000 && r >= 0; sid += 2) {
        tp_now += 100 * 1000000ull;
        tp_headers(sid, PW_H2_FLAG_END_HEADERS, ":method: GET\n");
        r = tp_flush();
    }
    ck_assert_int_eq(r, PW_H2_ERR_ENHANCE_YOUR_CALM);
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    ck_assert_uint_le(st.local_resets, PW_H2_OUT_CTRL_QUEUED_MAX + 1);
    ck_assert_uint_le(st.output_bytes, PW_H2_OUT_CAP_BYTES);
}
END_TEST

/* New streams after our GOAWAY are refused; a peer that keeps opening them is cut off. */
START_TEST(streams_after_goaway_are_stopped)
{
    ck_assert_int_eq(pw_h2_submit_goaway(S, PW_H2_NO_ERROR, NULL, 0), 0);
    ssize_t r = 0;
    uint32_t sid = 1;
    for (; sid < 4000 && r >= 0; sid += 2) {
        tp_request(sid, true);
        r = tp_flush();
        tp_drain();
        tp_out_reset();
    }
    ck_assert_int_eq(r, PW_H2_ERR_ENHANCE_YOUR_CALM);
    ck_assert_uint_eq((sid - 1) / 2, PW_H2_RESET_BURST + 1);
    ck_assert_uint_eq(tp_count('H'), 0);
}
END_TEST

/* ---- CVE-2024-27316 CONTINUATION flood ---- */

START_TEST(continuation_flood_many_frames)
{
    ck_assert_int_eq(pw_h2_write_headers(&tp_in, 1, 0, NULL, (const uint8_t *)"\x82", 1, -1), 0);
    ssize_t r = tp_flush();
    int frames = 0;
    while (r >= 0 && frames < 1000) {
        ck_assert_int_eq(pw_h2_write_continuation(&tp_in, 1, 0, (const uint8_t *)"\x84", 1), 0);
        r = tp_flush();
        frames++;
        ck_assert_uint_le(allocated(), 4096);
    }
    ck_assert_int_eq(r, PW_H2_ERR_ENHANCE_YOUR_CALM);
    ck_assert_int_eq(frames, PW_H2_CONTINUATION_FRAMES_MAX + 1);
    ck_assert_uint_eq(tp_goaway(), PW_H2_ENHANCE_YOUR_CALM);
}
END_TEST

START_TEST(continuation_flood_many_bytes)
{
    memset(chunk, 0x84, sizeof chunk);
    ck_assert_int_eq(pw_h2_write_headers(&tp_in, 1, 0, NULL, chunk, sizeof chunk, -1), 0);
    ssize_t r = tp_flush();
    int frames = 0;
    while (r >= 0 && frames < 100) {
        ck_assert_int_eq(pw_h2_write_continuation(&tp_in, 1, 0, chunk, sizeof chunk), 0);
        r = tp_flush();
        frames++;
        /* Never more than the block cap plus one partial frame. */
        ck_assert_uint_le(allocated(),
                          PW_H2_HEADER_BLOCK_IN_FACTOR * PW_H2_DEFAULT_MAX_HEADER_LIST_BYTES +
                              16384 + 9);
    }
    ck_assert_int_eq(r, PW_H2_ERR_ENHANCE_YOUR_CALM);
    ck_assert_int_eq(frames, 2);
}
END_TEST

START_TEST(empty_continuation_flood)
{
    ck_assert_int_eq(pw_h2_write_headers(&tp_in, 1, 0, NULL, NULL, 0, -1), 0);
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(pw_h2_write_continuation(&tp_in, 1, 0, NULL, 0), 0);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_ENHANCE_YOUR_CALM);
}
END_TEST

/* ---- CVE-2019-9512 / 9515: ping and settings floods from a peer that does not read ---- */

START_TEST(ping_flood_without_reading)
{
    ssize_t r = 0;
    int n = 0;
    for (; n < 5000 && r >= 0; n++) {
        ck_assert_int_eq(pw_h2_write_ping(&tp_in, false, (const uint8_t *)"flooding"), 0);
        r = tp_flush();
    }
    ck_assert_int_eq(r, PW_H2_ERR_ENHANCE_YOUR_CALM);
    ck_assert_int_eq(n, PW_H2_OUT_CTRL_QUEUED_MAX + 1);
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    ck_assert_uint_le(st.output_bytes, PW_H2_OUT_CAP_BYTES);
}
END_TEST

START_TEST(pings_from_a_reading_peer_are_fine)
{
    for (int n = 0; n < 5000; n++) {
        ck_assert_int_eq(pw_h2_write_ping(&tp_in, false, (const uint8_t *)"keepaliv"), 0);
        ck_assert_int_ge(tp_flush(), 0);
        if (n % 100 == 99) { /* reads in batches */
            tp_drain();
            tp_out_reset();
        }
    }
}
END_TEST

START_TEST(settings_flood_without_reading)
{
    pw_h2_setting st = {PW_H2_SETTINGS_MAX_CONCURRENT_STREAMS, 10};
    ssize_t r = 0;
    int n = 0;
    for (; n < 5000 && r >= 0; n++) {
        tp_settings(&st, 1);
        r = tp_flush();
    }
    ck_assert_int_eq(r, PW_H2_ERR_ENHANCE_YOUR_CALM);
    ck_assert_int_eq(n, PW_H2_OUT_CTRL_QUEUED_MAX + 1);
}
END_TEST

/* ---- CVE-2019-9518 empty frames ---- */

START_TEST(empty_data_flood)
{
    tp_request(1, false);
    ssize_t r = tp_flush();
    int n = 0;
    for (; n < 5000 && r >= 0; n++) {
        tp_data(1, NULL, 0, false);
        r = tp_flush();
    }
    ck_assert_int_eq(r, PW_H2_ERR_ENHANCE_YOUR_CALM);
    ck_assert_int_eq(n, PW_H2_EMPTY_FRAME_BURST + 1);
}
END_TEST

START_TEST(occasional_empty_data_is_fine)
{
    tp_request(1, false);
    for (int n = 0; n < 1000; n++) {
        tp_now += 100 * 1000000ull; /* 10 per second, below the refill rate */
        tp_data(1, NULL, 0, false);
        ck_assert_int_ge(tp_flush(), 0);
    }
    tp_data(1, NULL, 0, true); /* END_STREAM on an empty frame never counts */
    ck_assert_int_ge(tp_flush(), 0);
}
END_TEST

/* ---- CVE-2019-9511 / 9517: zero window and dribbled window, application keeps writing ---- */

START_TEST(zero_window_bounds_buffering)
{
    pw_h2_setting st = {PW_H2_SETTINGS_INITIAL_WINDOW_SIZE, 0};
    tp_settings(&st, 1);
    for (uint32_t sid = 1; sid <= 199; sid += 2) tp_request(sid, true);
    ck_assert_int_ge(tp_flush(), 0);
    static uint8_t big[1 << 20];
    size_t accepted = 0;
    for (uint32_t sid = 1; sid <= 199; sid += 2) {
        pw_h2_header rh[] = {PW_H2_HDR(":status", "200")};
        ck_assert_int_eq(pw_h2_submit_headers(S, sid, rh, 1, false), 0);
        for (int k = 0; k < 4; k++) {
            ssize_t r = pw_h2_submit_data(S, sid, big, sizeof big, false);
            if (r > 0) accepted += (size_t)r;
        }
    }
    ck_assert_uint_eq(accepted, 100u * PW_H2_DEFAULT_STREAM_PENDING_BYTES);
    /* Dribble: one byte of window at a time on every stream; nobody reads the output. */
    for (int i = 0; i < 50; i++)
        for (uint32_t sid = 1; sid <= 199; sid += 2) tp_window_update(sid, 1);
    ck_assert_int_ge(tp_flush(), 0);
    pw_h2_stats s;
    pw_h2_session_stats(S, &s);
    ck_assert_uint_le(s.output_bytes, PW_H2_OUT_DATA_WATERMARK_BYTES + 16384 + 9);
    ck_assert_uint_le(s.pending_bytes, 100u * PW_H2_DEFAULT_STREAM_PENDING_BYTES);
}
END_TEST

/* ---- HPACK bomb and zero-length headers (CVE-2019-9516), end to end ---- */

START_TEST(hpack_bomb_is_a_stream_error)
{
    static char v[4000 + 1];
    memset(v, 'b', 4000);
    static char list[8192];
    snprintf(list, sizeof list, TP_REQ "x-bomb: %s\n", v);
    tp_headers(1, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, list); /* indexes x-bomb */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_count('H'), 1);
    /* 200 one-byte references to the 4 KiB entry: 800 KiB decoded from ~300 bytes. */
    buf b;
    buf_init(&b, 1 << 16);
    tp_encode(&b, TP_REQ);
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(pw_hpack_encode_field(&tp_enc, &b, (const uint8_t *)"x-bomb", 6,
                                               (const uint8_t *)v, 4000, 0),
                         0);
    ck_assert_uint_lt(buf_size(&b), 8192); /* one literal, then 1-byte indexes */
    ck_assert_int_eq(pw_h2_write_headers(&tp_in, 3, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM,
                                         NULL, buf_begin(&b), buf_size(&b), -1),
                     0);
    buf_deinit(&b);
    size_t before = mallinfo2().uordblks;
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_le(mallinfo2().uordblks, before + 64 * 1024); /* never materialized */
    ck_assert_uint_eq(tp_rst(3), PW_H2_ENHANCE_YOUR_CALM);
    ck_assert_uint_eq(tp_count('H'), 1);
    tp_request(5, true); /* the dynamic table stayed in sync */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_count('H'), 2);
    ck_assert_uint_eq(tp_goaway(), UINT32_MAX);
}
END_TEST

START_TEST(zero_length_headers_are_bounded)
{
    static char list[65536];
    size_t w = (size_t)snprintf(list, sizeof list, "%s", TP_REQ);
    for (int i = 0; i < 1000; i++) w += (size_t)snprintf(list + w, sizeof list - w, "x: \n");
    tp_headers(1, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, list);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(1), PW_H2_ENHANCE_YOUR_CALM); /* 1000 x 33 > 16 KiB */
    tp_headers(3, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, TP_REQ ": \n");
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(3), PW_H2_PROTOCOL_ERROR); /* empty name: malformed */
    ck_assert_uint_eq(allocated(), 0);
}
END_TEST

/* ---- memory per idle connection ---- */

START_TEST(idle_session_memory)
{
    enum { N = 200 };
    static pw_h2_session *ss[N];
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < N; i++) {
        ss[i] = pw_h2_session_create(PW_H2_ROLE_SERVER, NULL, &tp_cb, NULL);
        ck_assert_ptr_nonnull(ss[i]);
        const uint8_t *p;
        size_t n;
        pw_h2_session_output(ss[i], &p, &n);
        pw_h2_session_output_consume(ss[i], n);
        ck_assert_int_ge(pw_h2_session_recv(ss[i], pw_h2_preface, 24, tp_now), 0);
        uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
        ck_assert_int_ge(pw_h2_session_recv(ss[i], settings, 9, tp_now), 0);
        pw_h2_session_output(ss[i], &p, &n);
        pw_h2_session_output_consume(ss[i], n);
    }
    size_t per = (mallinfo2().uordblks - before) / N;
    fprintf(stderr, "idle pw_h2 session: %zu bytes (budget 8192 incl. HPACK)\n", per);
    ck_assert_uint_le(per, 4096);
    for (int i = 0; i < N; i++) pw_h2_session_destroy(ss[i]);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("pw_h2_defense");
    TCase *tc = tcase_create("defense");
    tcase_add_checked_fixture(tc, start, stop);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rapid_reset_is_stopped);
    tcase_add_test(tc, cancel_rate_within_budget_is_fine);
    tcase_add_test(tc, provoked_resets_are_stopped);
    tcase_add_test(tc, reset_flood_without_reading);
    tcase_add_test(tc, streams_after_goaway_are_stopped);
    tcase_add_test(tc, continuation_flood_many_frames);
    tcase_add_test(tc, continuation_flood_many_bytes);
    tcase_add_test(tc, empty_continuation_flood);
    tcase_add_test(tc, ping_flood_without_reading);
    tcase_add_test(tc, pings_from_a_reading_peer_are_fine);
    tcase_add_test(tc, settings_flood_without_reading);
    tcase_add_test(tc, empty_data_flood);
    tcase_add_test(tc, occasional_empty_data_is_fine);
    tcase_add_test(tc, zero_window_bounds_buffering);
    tcase_add_test(tc, hpack_bomb_is_a_stream_error);
    tcase_add_test(tc, zero_length_headers_are_bounded);
    tcase_add_test(tc, idle_session_memory);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
