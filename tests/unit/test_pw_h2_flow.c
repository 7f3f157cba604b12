/* Unit tests for the pw_h2 session: flow control (RFC 9113 §6.9), DATA/padding (§6.1),
 * WINDOW_UPDATE, PRIORITY, PING, GOAWAY, CONTINUATION, frame sizes, HPACK errors, and the
 * callback / teardown contract. */
#include "tests/unit/test_pw_h2_peer.h"
#include "ts_main.h"

static void start(void) { tp_start_server(NULL); }
static void stop(void) { tp_stop(); }

static uint8_t chunk[70000];

static void respond_headers(uint32_t sid)
{
    pw_h2_header rh[] = {PW_H2_HDR(":status", "200")};
    ck_assert_int_eq(pw_h2_submit_headers(S, sid, rh, 1, false), 0);
}

static size_t data_out(uint32_t sid)
{
    size_t n = 0;
    for (size_t i = 0; i < tp_nout; i++)
        if (tp_out[i].hd.type == PW_H2_FT_DATA && tp_out[i].hd.stream_id == sid)
            n += tp_out[i].hd.length;
    return n;
}

/* ---- sending: windows, resumption, writable, bounded output ---- */

START_TEST(send_respects_stream_window_and_resumes)
{
    pw_h2_setting st = {PW_H2_SETTINGS_INITIAL_WINDOW_SIZE, 10};
    tp_settings(&st, 1);
    tp_request(1, true);
    ck_assert_int_ge(tp_flush(), 0);
    respond_headers(1);
    ck_assert_int_eq(pw_h2_submit_data(S, 1, chunk, 100, true), 100);
    tp_drain();
    ck_assert_uint_eq(data_out(1), 10); /* not past the window */
    ck_assert_uint_eq(pw_h2_stream_pending(S, 1), 90);
    ck_assert_int_eq(pw_h2_stream_send_window(S, 1), 0);
    tp_window_update(1, 50);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(data_out(1), 60);
    tp_window_update(1, 1000);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(data_out(1), 100);
    ck_assert_uint_eq(tp_out[tp_nout - 1].hd.flags, PW_H2_FLAG_END_STREAM);
    ck_assert_uint_eq(tp_closes[1], 1);
}
END_TEST

START_TEST(send_respects_connection_window)
{
    pw_h2_setting st = {PW_H2_SETTINGS_INITIAL_WINDOW_SIZE, 0};
    tp_settings(&st, 1);
    tp_request(1, true);
    tp_request(3, true);
    ck_assert_int_ge(tp_flush(), 0);
    respond_headers(1);
    respond_headers(3);
    ck_assert_int_eq(pw_h2_submit_data(S, 1, chunk, 60000, false), 60000);
    ck_assert_int_eq(pw_h2_submit_data(S, 3, chunk, 60000, false), 60000);
    tp_drain();
    ck_assert_uint_eq(data_out(1) + data_out(3), 0);
    st.value = 1 << 20; /* both stream windows open at once */
    tp_settings(&st, 1);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(data_out(1) + data_out(3), 65535); /* §6.9.1 initial connection window */
    ck_assert_uint_gt(data_out(1), 16384);               /* both streams progressed (round robin) */
    ck_assert_uint_gt(data_out(3), 16384);
    tp_window_update(0, 100000);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(data_out(1) + data_out(3), 120000); /* all that was pending */
    for (size_t i = 0; i < tp_nout; i++)
        ck_assert_uint_le(tp_out[i].hd.length, 16384); /* peer's MAX_FRAME_SIZE */
}
END_TEST

/* A gRPC stream's messages submitted between two output reads (a Work stream's results of one
 * loop turn) leave as one DATA frame, not a frame each; want_write says so before the read. */
START_TEST(data_submitted_between_reads_shares_a_frame)
{
    tp_request(1, true);
    ck_assert_int_ge(tp_flush(), 0);
    respond_headers(1);
    tp_drain();
    tp_out_reset();
    const char *parts[] = {"first", "-second", "-third"};
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(
            pw_h2_submit_data(S, 1, (const uint8_t *)parts[i], strlen(parts[i]), false),
            (ssize_t)strlen(parts[i]));
    ck_assert(pw_h2_session_want_write(S));
    tp_drain();
    ck_assert_uint_eq(tp_count_out(PW_H2_FT_DATA), 1);
    const tp_frame *f = tp_find(PW_H2_FT_DATA, 1);
    ck_assert_uint_eq(f->hd.length, 18);
    ck_assert_mem_eq(f->p, "first-second-third", 18);
    ck_assert_uint_eq(f->hd.flags, 0);
    ck_assert(!pw_h2_session_want_write(S));
    /* END_STREAM still goes at once, with what was waiting before it, in order. */
    ck_assert_int_eq(pw_h2_submit_data(S, 1, (const uint8_t *)"ab", 2, false), 2);
    ck_assert_int_eq(pw_h2_submit_data(S, 1, (const uint8_t *)"cd", 2, true), 2);
    tp_drain();
    ck_assert_uint_eq(data_out(1), 22);
    ck_assert_uint_eq(tp_out[tp_nout - 1].hd.flags, PW_H2_FLAG_END_STREAM);
    ck_assert_mem_eq(tp_out[tp_nout - 1].p + tp_out[tp_nout - 1].hd.length - 2, "cd", 2);
    ck_assert_uint_eq(tp_closes[1], 1);
}
END_TEST

static void on_writable_refill(uint32_t sid) { (void)sid; }

START_TEST(pending_cap_and_on_stream_writable)
{
    pw_h2_setting st = {PW_H2_SETTINGS_INITIAL_WINDOW_SIZE, 0}; /* zero window: nothing moves */
    tp_settings(&st, 1);
    tp_request(1, true);
    ck_assert_int_ge(tp_flush(), 0);
    respond_headers(1);
    tp_hook_writable = on_writable_refill;
    ssize_t r = pw_h2_submit_data(S, 1, chunk, sizeof chunk, false);
    ck_assert_int_eq(r, PW_H2_DEFAULT_STREAM_PENDING_BYTES); /* short: the cap */
    ck_assert_int_eq(pw_h2_submit_data(S, 1, chunk, 10, false), -ENOBUFS);
    tp_drain();
    ck_assert_uint_eq(data_out(1), 0);
    ck_assert_uint_eq(tp_count('W'), 0);
    /* A dribbling window: the event comes once half the cap has drained. */
    tp_window_update(1, 16384);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(tp_count('W'), 0);
    tp_window_update(1, 16384);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(tp_count('W'), 1);
    ck_assert_uint_eq(tp_last('W')->sid, 1);
    ck_assert_int_eq(pw_h2_submit_data(S, 1, chunk, sizeof chunk, true), 32768);
    tp_window_update(1, 1 << 20);
    tp_window_update(0, 1 << 20);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(tp_count('W'), 2);
    ck_assert_int_eq(pw_h2_submit_data(S, 1, chunk, 10, true), 10);
    tp_drain();
    ck_assert_uint_eq(data_out(1), 65536 + 32768 + 10);
    ck_assert_uint_eq(tp_closes[1], 1);
}
END_TEST

START_TEST(output_bounded_when_peer_does_not_read)
{
    pw_h2_setting st = {PW_H2_SETTINGS_INITIAL_WINDOW_SIZE, 0x7fffffff};
    tp_settings(&st, 1);
    tp_window_update(0, 0x7fffffff - 65535);
    for (uint32_t sid = 1; sid < 40; sid += 2) tp_request(sid, true);
    ck_assert_int_ge(tp_flush(), 0);
    for (uint32_t sid = 1; sid < 40; sid += 2) {
        respond_headers(sid);
        ck_assert_int_gt(pw_h2_submit_data(S, sid, chunk, sizeof chunk, false), 0);
    }
    /* Nobody reads the output: it stays within the watermark + one frame. */
    pw_h2_stats s;
    pw_h2_session_stats(S, &s);
    ck_assert_uint_le(s.output_bytes, PW_H2_OUT_DATA_WATERMARK_BYTES + 16384 + 9 + 64);
    ck_assert_uint_le(s.pending_bytes, 20u * PW_H2_DEFAULT_STREAM_PENDING_BYTES);
    ck_assert_uint_le(s.allocated_bytes,
                      PW_H2_OUT_CAP_BYTES + 20u * (PW_H2_DEFAULT_STREAM_PENDING_BYTES + 1024));
    /* The glue's lean accessors say what the full stats say. */
    ck_assert_uint_gt(s.pending_bytes, 0);
    ck_assert_uint_eq(pw_h2_session_queued_bytes(S), s.pending_bytes + s.output_bytes);
    ck_assert_uint_eq(pw_h2_session_open_streams(S), s.open_streams);
    tp_drain(); /* reading lets it continue */
    ck_assert_uint_eq(tp_count_out(PW_H2_FT_DATA) > 20, 1);
    pw_h2_session_stats(S, &s);
    ck_assert_uint_eq(pw_h2_session_queued_bytes(S), s.pending_bytes + s.output_bytes);
    ck_assert_uint_eq(pw_h2_session_open_streams(S), s.open_streams);
}
END_TEST

START_TEST(initial_window_change_adjusts_streams)
{
    tp_request(1, true);
    ck_assert_int_ge(tp_flush(), 0);
    respond_headers(1);
    ck_assert_int_eq(
        pw_h2_submit_data(S, 1, chunk, 60000, false),
        PW_H2_DEFAULT_STREAM_PENDING_BYTES > 60000 ? 60000 : PW_H2_DEFAULT_STREAM_PENDING_BYTES);
    tp_drain();
    ck_assert_uint_eq(data_out(1), 60000);
    ck_assert_int_eq(pw_h2_stream_send_window(S, 1), 5535);
    /* §6.9.2: a smaller INITIAL_WINDOW_SIZE can make the window negative. */
    pw_h2_setting st = {PW_H2_SETTINGS_INITIAL_WINDOW_SIZE, 1000};
    tp_settings(&st, 1);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_int_eq(pw_h2_stream_send_window(S, 1), 1000 - 60000);
    ck_assert_int_eq(pw_h2_submit_data(S, 1, chunk, 100, false), 100);
    tp_window_update(1, 59000);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(data_out(1), 60000); /* window still 0 */
    tp_window_update(1, 100);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(data_out(1), 60100);
    /* Growing past 2^31-1 through SETTINGS: connection FLOW_CONTROL_ERROR. */
    tp_window_update(1, 0x7fffffff - 1000);
    st.value = 0x7fffffff;
    tp_settings(&st, 1);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_FLOW_CONTROL);
    ck_assert_uint_eq(tp_goaway(), PW_H2_FLOW_CONTROL_ERROR);
}
END_TEST

START_TEST(window_update_errors)
{
    tp_request(1, false);
    tp_frame_raw(4, PW_H2_FT_WINDOW_UPDATE, 0, 1, "\0\0\0\0"); /* §6.9: 0 on a stream */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(1), PW_H2_PROTOCOL_ERROR);
    tp_request(3, false);
    tp_window_update(3, 0x7fffffff); /* 65535 + that > 2^31-1 */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(3), PW_H2_FLOW_CONTROL_ERROR);
    tp_window_update(0, 0x7fffffff);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_FLOW_CONTROL);
    ck_assert_uint_eq(tp_goaway(), PW_H2_FLOW_CONTROL_ERROR);
    tp_stop();
    start();
    tp_frame_raw(4, PW_H2_FT_WINDOW_UPDATE, 0, 0, "\0\0\0\0");
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    tp_stop();
    start();
    tp_frame_raw(3, PW_H2_FT_WINDOW_UPDATE, 0, 0, "\0\0\1");
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_FRAME_SIZE);
}
END_TEST

/* ---- receiving: windows, consume, padding ---- */

START_TEST(receive_window_and_consume_batching)
{
    tp_request(1, false);
    for (int i = 0; i < 9; i++) tp_data(1, chunk, 16384, false); /* 144 KiB of a 256 KiB window */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_data_bytes[1], 9 * 16384);
    tp_drain();
    ck_assert_uint_eq(tp_count_out(PW_H2_FT_WINDOW_UPDATE), 0); /* nothing consumed yet */
    ck_assert_int_eq(pw_h2_consume(S, 1, 9 * 16384 + 1), -EINVAL);
    ck_assert_int_eq(pw_h2_consume(S, 1, 1000), 0);
    tp_drain();
    ck_assert_uint_eq(tp_count_out(PW_H2_FT_WINDOW_UPDATE), 0); /* batched */
    ck_assert_int_eq(pw_h2_consume(S, 1, 9 * 16384 - 1000), 0);
    tp_drain();
    /* Half the stream window consumed: one update for all of it; the connection's half
     * (512 KiB) is not reached yet. */
    ck_assert_uint_eq(tp_count_out(PW_H2_FT_WINDOW_UPDATE), 1);
    tp_frame *wu = tp_find(PW_H2_FT_WINDOW_UPDATE, 1);
    ck_assert_ptr_nonnull(wu);
    ck_assert_uint_eq(tp_get32(wu->p), 9 * 16384);
}
END_TEST

START_TEST(data_beyond_stream_window)
{
    tp_request(1, false);
    for (int i = 0; i < 4; i++) tp_data(1, chunk, 16384, false);
    tp_data(1, chunk, 1, false); /* our window is still 65535 + acked delta: 256 KiB */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(1), UINT32_MAX);
    for (int i = 0; i < 12; i++) tp_data(1, chunk, 16384, false);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(1), PW_H2_FLOW_CONTROL_ERROR);
    ck_assert_uint_eq(tp_data_bytes[1], PW_H2_DEFAULT_STREAM_WINDOW_BYTES - 16383);
}
END_TEST

START_TEST(data_beyond_connection_window)
{
    tp_stop();
    pw_h2_config cfg;
    pw_h2_config_default(&cfg);
    cfg.conn_window_size = 65535;
    cfg.initial_window_size = 1 << 20;
    tp_start_server(&cfg);
    tp_request(1, false);
    for (int i = 0; i < 4; i++) tp_data(1, chunk, 16383, false);
    tp_data(1, chunk, 3, false); /* exactly 65535 */
    ck_assert_int_ge(tp_flush(), 0);
    tp_data(1, chunk, 1, false);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_FLOW_CONTROL);
    ck_assert_uint_eq(tp_goaway(), PW_H2_FLOW_CONTROL_ERROR);
}
END_TEST

START_TEST(unconsumed_data_returned_at_close)
{
    tp_stop();
    pw_h2_config cfg;
    pw_h2_config_default(&cfg);
    cfg.conn_window_size = 65535;
    cfg.initial_window_size = 1 << 20;
    tp_start_server(&cfg);
    tp_request(1, false);
    for (int i = 0; i < 3; i++) tp_data(1, chunk, 16384, false);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_int_eq(pw_h2_consume(S, 1, 1000), 0);
    tp_drain();
    ck_assert_uint_eq(tp_count_out(PW_H2_FT_WINDOW_UPDATE), 0);
    ck_assert_int_eq(pw_h2_write_rst_stream(&tp_in, 1, PW_H2_CANCEL), 0);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    tp_frame *wu = tp_find(PW_H2_FT_WINDOW_UPDATE, 0);
    ck_assert_ptr_nonnull(wu);
    ck_assert_uint_eq(tp_get32(wu->p), 3 * 16384);
    ck_assert_int_eq(pw_h2_consume(S, 1, 5000), 0); /* late: a no-op */
    tp_drain();
    ck_assert_uint_eq(tp_count_out(PW_H2_FT_WINDOW_UPDATE), 1);
}
END_TEST

START_TEST(padded_data)
{
    tp_request(1, false);
    ck_assert_int_eq(pw_h2_write_data(&tp_in, 1, 0, (const uint8_t *)"abc", 3, 200), 0);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_last('D')->n, 3);
    ck_assert_mem_eq(tp_last('D')->text, "abc", 3);
    tp_frame_raw(3, PW_H2_FT_DATA, PW_H2_FLAG_PADDED, 1, "\x03zz"); /* §6.1 */
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
}
END_TEST

START_TEST(auto_consume)
{
    tp_stop();
    pw_h2_config cfg;
    pw_h2_config_default(&cfg);
    cfg.auto_consume = true;
    tp_start_server(&cfg);
    tp_request(1, false);
    for (int i = 0; i < 9; i++) tp_data(1, chunk, 16384, false);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_ptr_nonnull(tp_find(PW_H2_FT_WINDOW_UPDATE, 1));
    ck_assert_int_eq(pw_h2_consume(S, 1, 1), -EINVAL); /* nothing left to consume */
}
END_TEST

/* ---- PRIORITY, PING, PUSH_PROMISE, unknown, CONTINUATION, sizes, HPACK ---- */

START_TEST(priority_frames)
{
    tp_request(1, false);
    pw_h2_priority pri = {0, 255, true};
    ck_assert_int_eq(pw_h2_write_priority(&tp_in, 1, &pri), 0);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(1), UINT32_MAX); /* ignored */
    pri.dependency = 1;                       /* §5.3.1 self-dependency */
    ck_assert_int_eq(pw_h2_write_priority(&tp_in, 1, &pri), 0);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(1), PW_H2_PROTOCOL_ERROR);
    tp_request(3, false);
    tp_frame_raw(4, PW_H2_FT_PRIORITY, 0, 3, "\0\0\0\0"); /* §6.3 */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(3), PW_H2_FRAME_SIZE_ERROR);
    /* HEADERS with a self-dependent priority: stream error, HPACK still in sync. */
    buf b;
    buf_init(&b, 4096);
    tp_encode(&b, TP_REQ);
    pri.dependency = 5;
    ck_assert_int_eq(pw_h2_write_headers(&tp_in, 5, PW_H2_FLAG_END_HEADERS, &pri, buf_begin(&b),
                                         buf_size(&b), 0),
                     0);
    buf_deinit(&b);
    tp_request(7, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(5), PW_H2_PROTOCOL_ERROR);
    ck_assert_uint_eq(tp_last('H')->sid, 7);
    ck_assert_uint_eq(tp_goaway(), UINT32_MAX);
}
END_TEST

START_TEST(ping_is_acked)
{
    ck_assert_int_eq(pw_h2_write_ping(&tp_in, false, (const uint8_t *)"pingpong"), 0);
    ck_assert_int_eq(pw_h2_write_ping(&tp_in, true, (const uint8_t *)"ignored!"), 0);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(tp_nout, 1);
    ck_assert_uint_eq(tp_out[0].hd.flags, PW_H2_FLAG_ACK);
    ck_assert_mem_eq(tp_out[0].p, "pingpong", 8);
    ck_assert_uint_eq(tp_count('P'), 1); /* our on_ping_ack saw the unsolicited ACK */
    ck_assert_int_eq(pw_h2_submit_ping(S, (const uint8_t *)"12345678"), 0);
    tp_drain();
    ck_assert_uint_eq(tp_out[1].hd.flags, 0);
    tp_frame_raw(7, PW_H2_FT_PING, 0, 0, "1234567");
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_FRAME_SIZE);
}
END_TEST

START_TEST(push_promise_from_client)
{
    tp_request(1, false);
    ck_assert_int_eq(pw_h2_write_push_promise(&tp_in, 1, PW_H2_FLAG_END_HEADERS, 2,
                                              (const uint8_t *)"\x82", 1, -1),
                     0);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL); /* §8.4 */
    ck_assert_uint_eq(tp_goaway(), PW_H2_PROTOCOL_ERROR);
    ck_assert_uint_eq(tp_last('C')->code, PW_H2_PROTOCOL_ERROR);
}
END_TEST

START_TEST(unknown_frames_ignored_but_not_inside_header_block)
{
    tp_frame_raw(5, 0xbb, 0xff, 0, "hello");
    tp_frame_raw(5, 0xbb, 0, 1, "hello");
    tp_request(1, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_count('H'), 1);
    buf b;
    buf_init(&b, 4096);
    tp_encode(&b, TP_REQ);
    ck_assert_int_eq(
        pw_h2_write_headers(&tp_in, 3, PW_H2_FLAG_END_STREAM, NULL, buf_begin(&b), 10, -1), 0);
    tp_frame_raw(5, 0xbb, 0, 0, "hello"); /* §4.3 / §5.5 */
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    buf_deinit(&b);
}
END_TEST

START_TEST(continuation_sequences)
{
    buf b;
    buf_init(&b, 4096);
    tp_encode(&b, TP_REQ);
    size_t n = buf_size(&b);
    ck_assert_int_eq(
        pw_h2_write_headers(&tp_in, 1, PW_H2_FLAG_END_STREAM, NULL, buf_begin(&b), 5, 2), 0);
    ck_assert_int_eq(pw_h2_write_continuation(&tp_in, 1, 0, buf_begin(&b) + 5, 5), 0);
    ck_assert_int_eq(
        pw_h2_write_continuation(&tp_in, 1, PW_H2_FLAG_END_HEADERS, buf_begin(&b) + 10, n - 10), 0);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_str_eq(tp_last('H')->text, TP_REQ);
    ck_assert_uint_eq(tp_last('H')->flags, PW_H2_HF_END_STREAM);
    buf_consume(&b, n);
    tp_encode(&b, TP_REQ);
    /* CONTINUATION of another stream, or any other frame: PROTOCOL_ERROR (§6.10). */
    ck_assert_int_eq(pw_h2_write_headers(&tp_in, 3, 0, NULL, buf_begin(&b), 5, -1), 0);
    ck_assert_int_eq(
        pw_h2_write_continuation(&tp_in, 5, PW_H2_FLAG_END_HEADERS, buf_begin(&b) + 5, 1), 0);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    tp_stop();
    start();
    ck_assert_int_eq(pw_h2_write_continuation(&tp_in, 1, PW_H2_FLAG_END_HEADERS, buf_begin(&b), 1),
                     0);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL); /* no HEADERS before */
    tp_stop();
    start();
    ck_assert_int_eq(pw_h2_write_headers(&tp_in, 1, 0, NULL, buf_begin(&b), 5, -1), 0);
    ck_assert_int_eq(pw_h2_write_ping(&tp_in, false, (const uint8_t *)"12345678"), 0);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    buf_deinit(&b);
}
END_TEST

START_TEST(frame_too_large_and_stream_zero)
{
    tp_frame_raw(16385, PW_H2_FT_DATA, 0, 1, chunk); /* §4.2 */
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_FRAME_SIZE);
    ck_assert_uint_eq(tp_goaway(), PW_H2_FRAME_SIZE_ERROR);
    tp_stop();
    start();
    tp_request(0, true); /* §6.2 */
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    tp_stop();
    start();
    tp_data(0, "x", 1, false); /* §6.1 */
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
}
END_TEST

START_TEST(hpack_error_is_compression_error)
{
    /* Indexed field 0x7f+... pointing far past both tables. */
    tp_frame_raw(3, PW_H2_FT_HEADERS, PW_H2_FLAG_END_HEADERS, 1, "\xff\xff\x7f");
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_COMPRESSION); /* §4.3 */
    ck_assert_uint_eq(tp_goaway(), PW_H2_COMPRESSION_ERROR);
}
END_TEST

/* ---- GOAWAY ---- */

START_TEST(graceful_goaway)
{
    tp_request(1, false);
    tp_request(3, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_int_eq(pw_h2_submit_goaway(S, PW_H2_NO_ERROR, (const uint8_t *)"drain", 5), 0);
    ck_assert_int_eq(pw_h2_submit_goaway(S, PW_H2_NO_ERROR, NULL, 0), -EALREADY);
    tp_drain();
    tp_frame *g = tp_find(PW_H2_FT_GOAWAY, 0);
    ck_assert_uint_eq(tp_get32(g->p), 3); /* last stream processed */
    ck_assert_uint_eq(tp_get32(g->p + 4), PW_H2_NO_ERROR);
    ck_assert(!pw_h2_session_want_close(S));
    tp_request(5, true); /* after GOAWAY: refused, not processed */
    tp_data(1, "x", 1, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(5), PW_H2_REFUSED_STREAM);
    ck_assert_uint_eq(tp_count('H'), 2);
    ck_assert_uint_eq(tp_data_bytes[1], 1);
    pw_h2_header rh[] = {PW_H2_HDR(":status", "200")};
    ck_assert_int_eq(pw_h2_submit_headers(S, 1, rh, 1, true), 0);
    ck_assert(!pw_h2_session_want_close(S));
    ck_assert_int_eq(pw_h2_submit_headers(S, 3, rh, 1, true), 0);
    ck_assert(pw_h2_session_want_close(S));
    tp_drain();
    ck_assert(!pw_h2_session_want_write(S));
}
END_TEST

START_TEST(goaway_from_peer)
{
    tp_request(1, true);
    ck_assert_int_eq(pw_h2_write_goaway(&tp_in, 0, PW_H2_NO_ERROR, (const uint8_t *)"bye", 3), 0);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_last('G')->code, PW_H2_NO_ERROR);
    ck_assert_str_eq(tp_last('G')->text, "bye");
    ck_assert(!pw_h2_session_want_close(S)); /* stream 1 still to answer */
    pw_h2_header rh[] = {PW_H2_HDR(":status", "200")};
    ck_assert_int_eq(pw_h2_submit_headers(S, 1, rh, 1, true), 0);
    ck_assert(pw_h2_session_want_close(S));
}
END_TEST

START_TEST(goaway_with_error_closes_all)
{
    tp_request(1, false);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_int_eq(pw_h2_submit_goaway(S, PW_H2_ENHANCE_YOUR_CALM, NULL, 0), 0);
    ck_assert(pw_h2_session_want_close(S));
    ck_assert_uint_eq(tp_closes[1], 1);
    ck_assert_uint_eq(tp_last('C')->code, PW_H2_ENHANCE_YOUR_CALM);
    ck_assert_uint_eq(tp_goaway(), PW_H2_ENHANCE_YOUR_CALM);
}
END_TEST

/* ---- callback contract ---- */

static int reset_in_data(uint32_t sid, size_t n, bool es)
{
    (void)n;
    (void)es;
    ck_assert_int_eq(pw_h2_submit_rst(S, sid, PW_H2_CANCEL), 0);
    ck_assert_uint_eq(tp_closes[sid], 0); /* deferred: not inside this callback */
    ck_assert_int_eq(pw_h2_submit_rst(S, sid, PW_H2_CANCEL), -ENOENT);
    return 0;
}

START_TEST(reset_inside_callback_is_deferred)
{
    tp_hook_data = reset_in_data;
    tp_request(1, false);
    tp_data(1, "a", 1, false);
    tp_data(1, "b", 1, true); /* arrives after our reset: ignored */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_count('D'), 1);
    ck_assert_uint_eq(tp_closes[1], 1);
    ck_assert_uint_eq(tp_rst(1), PW_H2_CANCEL);
}
END_TEST

static int fail_headers(uint32_t sid, unsigned flags)
{
    (void)sid;
    (void)flags;
    return -1;
}

START_TEST(callback_failure_fails_connection)
{
    tp_hook_headers = fail_headers;
    tp_request(1, false);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_INTERNAL);
    ck_assert_uint_eq(tp_goaway(), PW_H2_INTERNAL_ERROR);
    ck_assert_uint_eq(tp_closes[1], 1);
}
END_TEST

START_TEST(destroy_closes_open_streams_once)
{
    tp_request(1, false);
    tp_request(3, true);
    ck_assert_int_ge(tp_flush(), 0);
    pw_h2_session_destroy(S);
    S = pw_h2_session_create(PW_H2_ROLE_SERVER, NULL, &tp_cb, NULL); /* for stop() */
    ck_assert_uint_eq(tp_closes[1], 1);
    ck_assert_uint_eq(tp_closes[3], 1);
    ck_assert_uint_eq(tp_last('C')->code, PW_H2_CANCEL);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("pw_h2_flow");
    TCase *tc = tcase_create("flow");
    tcase_add_checked_fixture(tc, start, stop);
    tcase_add_test(tc, send_respects_stream_window_and_resumes);
    tcase_add_test(tc, send_respects_connection_window);
    tcase_add_test(tc, pending_cap_and_on_stream_writable);
    tcase_add_test(tc, data_submitted_between_reads_shares_a_frame);
    tcase_add_test(tc, output_bounded_when_peer_does_not_read);
    tcase_add_test(tc, initial_window_change_adjusts_streams);
    tcase_add_test(tc, window_update_errors);
    tcase_add_test(tc, receive_window_and_consume_batching);
    tcase_add_test(tc, data_beyond_stream_window);
    tcase_add_test(tc, data_beyond_connection_window);
    tcase_add_test(tc, unconsumed_data_returned_at_close);
    tcase_add_test(tc, padded_data);
    tcase_add_test(tc, auto_consume);
    suite_add_tcase(su, tc);
    tc = tcase_create("frames");
    tcase_add_checked_fixture(tc, start, stop);
    tcase_add_test(tc, priority_frames);
    tcase_add_test(tc, ping_is_acked);
    tcase_add_test(tc, push_promise_from_client);
    tcase_add_test(tc, unknown_frames_ignored_but_not_inside_header_block);
    tcase_add_test(tc, continuation_sequences);
    tcase_add_test(tc, frame_too_large_and_stream_zero);
    tcase_add_test(tc, hpack_error_is_compression_error);
    tcase_add_test(tc, graceful_goaway);
    tcase_add_test(tc, goaway_from_peer);
    tcase_add_test(tc, goaway_with_error_closes_all);
    tcase_add_test(tc, reset_inside_callback_is_deferred);
    tcase_add_test(tc, callback_failure_fails_connection);
    tcase_add_test(tc, destroy_closes_open_streams_once);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
