/* Unit tests for the pw_h2 session, server role: RFC 9113 behaviour driven with raw frames.
 * Defences against floods are in test_pw_h2_defense.c, the client role in test_pw_h2_client.c. */
#include "tests/unit/test_pw_h2_peer.h"

#include "core/rt_alloc.h"
#include "ts_main.h"

static void start(void) { tp_start_server(NULL); }
static void stop(void) { tp_stop(); }

/* ---- connection start (§3.4) ---- */

START_TEST(server_sends_settings_at_creation)
{
    tp_reset_peer();
    S = pw_h2_session_create(PW_H2_ROLE_SERVER, NULL, &tp_cb, NULL);
    ck_assert(pw_h2_session_want_write(S));
    tp_drain();
    ck_assert_uint_eq(tp_out[0].hd.type, PW_H2_FT_SETTINGS); /* the server preface */
    ck_assert_uint_eq(tp_out[0].hd.flags, 0);
    bool saw_mcs = false, saw_iws = false;
    for (size_t i = 0; i < tp_out[0].hd.length; i += 6) {
        uint16_t id = (uint16_t)(tp_out[0].p[i] << 8 | tp_out[0].p[i + 1]);
        uint32_t v = tp_get32(tp_out[0].p + i + 2);
        if (id == PW_H2_SETTINGS_MAX_CONCURRENT_STREAMS) saw_mcs = v == 100;
        if (id == PW_H2_SETTINGS_INITIAL_WINDOW_SIZE)
            saw_iws = v == PW_H2_DEFAULT_STREAM_WINDOW_BYTES;
    }
    ck_assert(saw_mcs && saw_iws);
    /* Then the connection window grows to its target (§6.9.2). */
    ck_assert_uint_eq(tp_out[1].hd.type, PW_H2_FT_WINDOW_UPDATE);
    ck_assert_uint_eq(tp_out[1].hd.stream_id, 0);
    ck_assert_uint_eq(tp_get32(tp_out[1].p), PW_H2_DEFAULT_CONN_WINDOW_BYTES - 65535);
    /* Preface byte by byte, then SETTINGS: answered with an ACK. */
    tp_out_reset();
    for (size_t i = 0; i < PW_H2_PREFACE_BYTES; i++)
        ck_assert_int_eq(pw_h2_session_recv(S, pw_h2_preface + i, 1, tp_now), 1);
    ck_assert(!pw_h2_session_want_write(S));
    tp_settings(NULL, 0);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(tp_nout, 1);
    ck_assert_uint_eq(tp_out[0].hd.flags, PW_H2_FLAG_ACK);
    ck_assert(pw_h2_session_settings_pending(S));
    ck_assert_int_eq(pw_h2_write_settings_ack(&tp_in), 0);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert(!pw_h2_session_settings_pending(S));
    tp_stop();
}
END_TEST

START_TEST(bad_preface_is_protocol_error)
{
    tp_reset_peer();
    S = pw_h2_session_create(PW_H2_ROLE_SERVER, NULL, &tp_cb, NULL);
    ck_assert_int_eq(pw_h2_session_recv(S, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, tp_now),
                     PW_H2_ERR_PROTOCOL);
    ck_assert(pw_h2_session_want_close(S));
    ck_assert_uint_eq(tp_goaway(), PW_H2_PROTOCOL_ERROR);
    /* Sticky: more input gets the same answer. */
    ck_assert_int_eq(pw_h2_session_recv(S, pw_h2_preface, 24, tp_now), PW_H2_ERR_PROTOCOL);
    tp_stop();
}
END_TEST

START_TEST(first_frame_must_be_settings)
{
    tp_reset_peer();
    S = pw_h2_session_create(PW_H2_ROLE_SERVER, NULL, &tp_cb, NULL);
    ck_assert_int_eq(buf_append(&tp_in, pw_h2_preface, PW_H2_PREFACE_BYTES), 0);
    ck_assert_int_eq(pw_h2_write_ping(&tp_in, false, (const uint8_t *)"12345678"), 0);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    ck_assert_uint_eq(tp_goaway(), PW_H2_PROTOCOL_ERROR);
    tp_stop();
}
END_TEST

/* ---- requests and responses ---- */

/* The decoded-block scratch (a header block's names and values) stays while a stream is live, so
 * a busy connection does not allocate it for every request, and goes with the last live stream
 * (an idle session holds no buffers). Before, every block allocated and freed it. */
START_TEST(header_scratch_kept_while_a_stream_is_live)
{
    pw_h2_header rh[] = {PW_H2_HDR(":status", "200"), PW_H2_HDR("grpc-status", "0")};
    tp_request(1, true);
    ck_assert_int_ge(tp_flush(), 0); /* stream 1 stays live until answered */
    tp_request(3, true);
    rt_alloc_test_start(0);
    ck_assert_int_ge(tp_flush(), 0);
    uint64_t busy = rt_alloc_test_count();
    rt_alloc_test_stop();
    for (uint32_t sid = 1; sid <= 3; sid += 2)
        ck_assert_int_eq(pw_h2_submit_headers(S, sid, rh, 2, true), 0);
    tp_drain();
    tp_idle_pass();
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.open_streams, 0);
    ck_assert_uint_eq(st.allocated_bytes, 0); /* the scratch went with the last stream */
    tp_request(5, true);
    rt_alloc_test_start(0);
    ck_assert_int_ge(tp_flush(), 0);
    uint64_t idle = rt_alloc_test_count();
    rt_alloc_test_stop();
    ck_assert_uint_ge(idle, busy + 2); /* hbytes and hfields: only when no stream was live */
    ck_assert_int_eq(pw_h2_submit_headers(S, 5, rh, 2, true), 0);
    tp_drain();
    tp_idle_pass();
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.allocated_bytes, 0);
}
END_TEST

/* Answers stream `sid` with headers `rh` and trailers `tr`, counting the allocations of the two
 * submits; checks what the peer decodes. */
static uint64_t answer_counted(uint32_t sid, const pw_h2_header *rh, size_t nrh,
                               const pw_h2_header *tr, const char *want_h, const char *want_t)
{
    tp_request(sid, true);
    ck_assert_int_ge(tp_flush(), 0);
    rt_alloc_test_start(0);
    ck_assert_int_eq(pw_h2_submit_headers(S, sid, rh, nrh, false), 0);
    ck_assert_int_eq(pw_h2_submit_trailers(S, sid, tr, 1), 0);
    uint64_t n = rt_alloc_test_count();
    rt_alloc_test_stop();
    tp_out_reset();
    tp_drain();
    size_t i = 0;
    char text[4096];
    ck_assert_uint_eq(tp_block(sid, &i, text) & PW_H2_FLAG_END_STREAM, 0);
    ck_assert_str_eq(text, want_h);
    ck_assert_uint_eq(tp_block(sid, &i, text) & PW_H2_FLAG_END_STREAM, PW_H2_FLAG_END_STREAM);
    ck_assert_str_eq(text, want_t);
    return n;
}

/* The block cache: a gRPC server's response headers and OK trailers are the same on every call.
 * From the second call on they are neither copied nor allocated (before: one allocation each),
 * from the third sent as kept bytes (no HPACK encode); a list that changes the encoder's table
 * in between makes the next block encoded afresh, and the peer decodes every block right. */
START_TEST(header_block_cache)
{
    pw_h2_header rh[] = {PW_H2_HDR(":status", "200"),
                         PW_H2_HDR("content-type", "application/grpc")};
    pw_h2_header other[] = {PW_H2_HDR(":status", "200"), PW_H2_HDR("x-new", "1")};
    pw_h2_header tr[] = {PW_H2_HDR("grpc-status", "0")};
    const char *want = ":status: 200\ncontent-type: application/grpc\n";
    const char *want_t = "grpc-status: 0\n";
    tp_request(1, true); /* live throughout: the cache is emptied with the last stream */
    ck_assert_int_ge(tp_flush(), 0);
    pw_h2_stats st;
    /* Each answer allocates the output buffer (released when drained): OUT. */
    const uint64_t OUT = 1;
    ck_assert_uint_ge(answer_counted(3, rh, 2, tr, want, want_t), OUT + 2); /* copies, table */
    ck_assert_uint_eq(answer_counted(5, rh, 2, tr, want, want_t), OUT);     /* shared, encoded */
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.hblocks_cached, 0);
    ck_assert_uint_eq(answer_counted(7, rh, 2, tr, want, want_t), OUT); /* kept bytes */
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.hblocks_cached, 2);
    /* x-new enters the dynamic table: the kept bytes' indexes may be stale, so re-encoded. */
    ck_assert_uint_ge(answer_counted(9, other, 2, tr, ":status: 200\nx-new: 1\n", want_t), OUT + 1);
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.hblocks_cached, 2); /* the trailers too: the table moved before them */
    ck_assert_uint_eq(answer_counted(11, rh, 2, tr, want, want_t), OUT + 1); /* a copy */
    ck_assert_uint_eq(answer_counted(13, rh, 2, tr, want, want_t), OUT);
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.hblocks_cached, 5); /* 11's trailers, 13's both */
    ck_assert_int_eq(pw_h2_submit_headers(S, 1, rh, 2, true), 0);
    tp_drain();
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.open_streams, 0);
    ck_assert_uint_gt(st.allocated_bytes, 0); /* kept: a stream was opened just now */
    tp_idle_pass();
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.allocated_bytes, 0); /* idle: the lists and the table went */
}
END_TEST

/* Answers stream `sid` with constant headers and trailers (pw_h2_submit_*_const); checks what
 * the peer decodes and returns how many lists were taken by address. */
static uint64_t answer_const(uint32_t sid, const pw_h2_header *rh, size_t nrh,
                             const pw_h2_header *tr, const char *want_h, const char *want_t)
{
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    uint64_t hits0 = st.hlists_const;
    tp_request(sid, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_int_eq(pw_h2_submit_headers_const(S, sid, rh, nrh, false), 0);
    ck_assert_int_eq(pw_h2_submit_trailers_const(S, sid, tr, 1), 0);
    tp_out_reset();
    tp_drain();
    size_t i = 0;
    char text[4096];
    ck_assert_uint_eq(tp_block(sid, &i, text) & PW_H2_FLAG_END_STREAM, 0);
    ck_assert_str_eq(text, want_h);
    ck_assert_uint_eq(tp_block(sid, &i, text) & PW_H2_FLAG_END_STREAM, PW_H2_FLAG_END_STREAM);
    ck_assert_str_eq(text, want_t);
    pw_h2_session_stats(S, &st);
    return st.hlists_const - hits0;
}

/* Constant lists (a gRPC server's usual response headers and OK trailers) are known again by
 * their address, without comparing them to the slot's list: from the second call both are taken
 * so. A list submitted the usual way in between takes the slot: the next constant one is compared
 * (and copied, as it differs), never sent as the other; a prefix of it (another n) is its own. */
START_TEST(constant_lists_known_by_address)
{
    static const pw_h2_header rh[] = {PW_H2_HDR(":status", "200"),
                                      PW_H2_HDR("content-type", "application/grpc")};
    static const pw_h2_header tr[] = {PW_H2_HDR("grpc-status", "0")};
    pw_h2_header other[] = {PW_H2_HDR(":status", "200"), PW_H2_HDR("x-new", "1")};
    const char *want = ":status: 200\ncontent-type: application/grpc\n";
    const char *want_t = "grpc-status: 0\n";
    tp_request(1, true); /* live throughout: the cache is emptied with the last stream */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(answer_const(3, rh, 2, tr, want, want_t), 0); /* copies */
    ck_assert_uint_eq(answer_const(5, rh, 2, tr, want, want_t), 2);
    ck_assert_uint_eq(answer_const(7, rh, 2, tr, want, want_t), 2);
    /* x-new enters the encoder's table: the constant lists' blocks are encoded afresh. */
    (void)answer_counted(9, other, 2, tr, ":status: 200\nx-new: 1\n", want_t);
    ck_assert_uint_eq(answer_const(11, rh, 2, tr, want, want_t), 1); /* headers compared */
    ck_assert_uint_eq(answer_const(13, rh, 2, tr, want, want_t), 2);
    ck_assert_uint_eq(answer_const(15, rh, 1, tr, ":status: 200\n", want_t), 1); /* n differs */
    ck_assert_int_eq(pw_h2_submit_headers(S, 1, rh, 2, true), 0);
    tp_drain();
}
END_TEST

/* A busy connection answers every request of a loop turn before its next ones arrive: the
 * stream memory and the table are kept across that moment without streams (before, both were
 * freed at each zero and allocated again for the next request: 2 allocations per request), and
 * go once the session has opened no stream for PW_H2_IDLE_KEEP_MS. */
START_TEST(stream_memory_kept_across_a_momentary_idle)
{
    pw_h2_header rh[] = {PW_H2_HDR(":status", "200")};
    tp_request(1, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_int_eq(pw_h2_submit_headers(S, 1, rh, 1, true), 0);
    tp_drain();
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.open_streams, 0);
    for (uint32_t sid = 3; sid <= 9; sid += 2) {
        tp_now += 1000000u; /* 1 ms later: still busy */
        tp_request(sid, true);
        rt_alloc_test_start(0);
        ck_assert_int_ge(tp_flush(), 0);
        uint64_t n = rt_alloc_test_count();
        rt_alloc_test_stop();
        /* 1: the cached stream's hit, numbered for the fail-Nth walk (core/rt_cache); before,
         * 4: the stream, the table, the block scratch's two buffers. Plus, once, the decoded
         * block cache at the first block kept (the second request: all indexes). */
        ck_assert_uint_eq(n, sid == 3 ? 2 : 1);
        ck_assert_uint_eq(tp_count('H'), (sid + 1) / 2);
        ck_assert_int_eq(pw_h2_submit_headers(S, sid, rh, 1, true), 0);
        tp_drain();
    }
    tp_idle_pass();
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.allocated_bytes, 0);
    tp_request(11, true); /* after the idle pass: allocated again */
    rt_alloc_test_start(0);
    ck_assert_int_ge(tp_flush(), 0);
    uint64_t n = rt_alloc_test_count();
    rt_alloc_test_stop();
    ck_assert_uint_ge(n, 2);
}
END_TEST

START_TEST(request_response_with_trailers)
{
    tp_request(1, false);
    tp_data(1, "hello", 5, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_evs[0].kind, 'B');
    ck_assert_uint_eq(tp_evs[1].kind, 'H');
    ck_assert_str_eq(tp_evs[1].text, TP_REQ);
    ck_assert_uint_eq(tp_evs[1].flags, 0);
    ck_assert_uint_eq(tp_evs[2].kind, 'D');
    ck_assert_uint_eq(tp_evs[2].n, 5);
    ck_assert_uint_eq(tp_evs[2].flags, 1);
    pw_h2_header rh[] = {PW_H2_HDR(":status", "200"),
                         PW_H2_HDR("content-type", "application/grpc")};
    pw_h2_header tr[] = {PW_H2_HDR("grpc-status", "0")};
    ck_assert_int_eq(pw_h2_submit_headers(S, 1, rh, 2, false), 0);
    ck_assert_int_eq(pw_h2_submit_data(S, 1, (const uint8_t *)"world", 5, false), 5);
    ck_assert_int_eq(pw_h2_submit_trailers(S, 1, tr, 1), 0);
    tp_drain();
    size_t i = 0;
    char text[4096];
    ck_assert_uint_eq(tp_block(1, &i, text) & PW_H2_FLAG_END_STREAM, 0);
    ck_assert_str_eq(text, ":status: 200\ncontent-type: application/grpc\n");
    ck_assert_uint_eq(tp_out[i].hd.type, PW_H2_FT_DATA);
    ck_assert_mem_eq(tp_out[i].p, "world", 5);
    ck_assert_uint_eq(tp_out[i].hd.flags, 0);
    ck_assert_uint_eq(tp_block(1, &i, text) & PW_H2_FLAG_END_STREAM, PW_H2_FLAG_END_STREAM);
    ck_assert_str_eq(text, "grpc-status: 0\n");
    /* Both sides ended: closed exactly once with NO_ERROR; its memory is gone. */
    ck_assert_uint_eq(tp_closes[1], 1);
    ck_assert_uint_eq(tp_last('C')->code, PW_H2_NO_ERROR);
    tp_idle_pass();
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.open_streams, 0);
    ck_assert_uint_eq(st.allocated_bytes, 0); /* idle: no buffers, no table */
    ck_assert_int_eq(pw_h2_submit_data(S, 1, (const uint8_t *)"x", 1, false), -ENOENT);
}
END_TEST

START_TEST(request_trailers_and_user_pointer)
{
    static int ctx;
    tp_request(3, false);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_int_eq(pw_h2_stream_set_user(S, 3, &ctx), 0);
    ck_assert_ptr_eq(pw_h2_stream_get_user(S, 3), &ctx);
    /* A headers-only response ends our side (half-closed (local)): no more to send. */
    pw_h2_header rh[] = {PW_H2_HDR(":status", "204")};
    ck_assert_int_eq(pw_h2_submit_data(S, 3, (const uint8_t *)"x", 1, false), -EPIPE);
    ck_assert_int_eq(pw_h2_submit_headers(S, 3, rh, 1, true), 0);
    ck_assert_int_eq(pw_h2_submit_headers(S, 3, rh, 1, true), -EPIPE);
    ck_assert_int_eq(pw_h2_submit_data(S, 3, (const uint8_t *)"x", 1, false), -EPIPE);
    ck_assert_int_eq(pw_h2_submit_trailers(S, 3, rh, 1), -EPIPE);
    tp_drain();
    ck_assert_uint_eq(tp_find(PW_H2_FT_HEADERS, 3)->hd.flags,
                      PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM);
    ck_assert_uint_eq(tp_closes[3], 0);
    tp_headers(3, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, "x-trailer: yes\n");
    ck_assert_int_ge(tp_flush(), 0);
    tp_ev *e = tp_last('H');
    ck_assert_uint_eq(e->flags, PW_H2_HF_TRAILERS | PW_H2_HF_END_STREAM);
    ck_assert_str_eq(e->text, "x-trailer: yes\n");
    ck_assert_uint_eq(tp_closes[3], 1);
    ck_assert_ptr_null(pw_h2_stream_get_user(S, 3));
}
END_TEST

START_TEST(partial_frames_byte_by_byte)
{
    tp_request(1, false);
    tp_data(1, "abcdefgh", 8, true);
    for (size_t i = 0; i < buf_size(&tp_in); i++)
        ck_assert_int_eq(pw_h2_session_recv(S, buf_begin(&tp_in) + i, 1, tp_now), 1);
    buf_consume(&tp_in, buf_size(&tp_in));
    ck_assert_uint_eq(tp_count('H'), 1);
    ck_assert_uint_eq(tp_data_bytes[1], 8);
}
END_TEST

START_TEST(response_header_block_split_into_continuations)
{
    tp_request(1, true);
    ck_assert_int_ge(tp_flush(), 0);
    static char big[20000];
    memset(big, 'v', sizeof big);
    pw_h2_header rh[] = {PW_H2_HDR(":status", "200"),
                         {"x-big", 5, big, sizeof big, PW_HPACK_F_NO_INDEX}};
    ck_assert_int_eq(pw_h2_submit_headers(S, 1, rh, 2, true), 0);
    tp_drain();
    ck_assert_uint_eq(tp_out[0].hd.type, PW_H2_FT_HEADERS);
    ck_assert_uint_eq(tp_out[0].hd.length, 16384); /* the peer's MAX_FRAME_SIZE */
    ck_assert_uint_eq(tp_out[0].hd.flags, PW_H2_FLAG_END_STREAM);
    ck_assert_uint_eq(tp_out[1].hd.type, PW_H2_FT_CONTINUATION);
    ck_assert_uint_eq(tp_out[1].hd.flags, PW_H2_FLAG_END_HEADERS);
    size_t i = 0;
    static char text[4096];
    tp_block(1, &i, text); /* decodes (text truncated) */
    ck_assert(strncmp(text, ":status: 200\nx-big: vvvv", 24) == 0);
    static char huge[40000];
    memset(huge, 'h', sizeof huge);
    pw_h2_header hh[] = {{"x-huge", 6, huge, sizeof huge, 0}};
    tp_request(3, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_int_eq(pw_h2_submit_headers(S, 3, hh, 1, true), -E2BIG);
    pw_h2_header bad[] = {PW_H2_HDR("X-Upper", "1")};
    ck_assert_int_eq(pw_h2_submit_headers(S, 3, bad, 1, true), -EINVAL);
}
END_TEST

/* ---- malformed requests (§8.1.1, §8.2, §8.3.1): RST_STREAM PROTOCOL_ERROR, no callback ---- */

static const char *const malformed[] = {
    ":scheme: http\n:path: /\n:authority: a\n",                   /* no :method */
    ":method: GET\n:scheme: http\n:authority: a\n",               /* no :path */
    ":method: GET\n:path: /\n:authority: a\n",                    /* no :scheme */
    ":method: GET\n:scheme: http\n:path: \n",                     /* empty :path */
    ":method: GET\n:scheme: http\n:path: /\n:foo: x\n",           /* unknown pseudo */
    ":method: GET\n:scheme: http\n:path: /\n:status: 200\n",      /* response pseudo */
    ":method: GET\n:scheme: http\nx-a: 1\n:path: /\n",            /* pseudo after regular */
    ":method: GET\n:method: GET\n:scheme: http\n:path: /\n",      /* duplicate */
    ":method: GET\n:scheme: http\n:path: /\nX-Upper: 1\n",        /* uppercase name */
    ":method: GET\n:scheme: http\n:path: /\nconnection: close\n", /* connection-specific */
    ":method: GET\n:scheme: http\n:path: /\nkeep-alive: 1\n",
    ":method: GET\n:scheme: http\n:path: /\ntransfer-encoding: chunked\n",
    ":method: GET\n:scheme: http\n:path: /\nupgrade: h2c\n",
    ":method: GET\n:scheme: http\n:path: /\nte: gzip\n",    /* TE other than trailers */
    ":method: GET\n:scheme: http\n:path: /\nx-v:  lead\n",  /* leading space in value */
    ":method: GET\n:scheme: http\n:path: /\nbad name: 1\n", /* space in name */
    ":method: GET\n:scheme: http\n:path: /\ncontent-length: 1x\n",
    ":method: GE T\n:scheme: http\n:path: /\n",                   /* :method not a token */
    ":method: CONNECT\n:authority: a\n:path: /\n",                /* §8.5 */
    ":method: GET\n:scheme: http\n:path: /\ncontent-length: 3\n", /* END_STREAM, 0 bytes */
    /* Bad bytes at every place the checks read them (names by table, values 8 bytes at a
     * time then bytewise): the first and a later word of a value, its tail, a long name. */
    ":method: GET\n:scheme: http\n:path: /\nx-v: a\rcdefghijklmnopq\n",
    ":method: GET\n:scheme: http\n:path: /\nx-v: abcdefghijklm\ropq\n",
    ":method: GET\n:scheme: http\n:path: /\nx-v: abcdefghijklmnopqr\r\n",
    ":method: GET\n:scheme: http\n:path: /\nx-v: abcdefghijklmnopq \n", /* trailing space */
    ":method: GET\n:scheme: http\n:path: /\nx-v: abcdefghijklmnop\t\n", /* trailing tab */
    ":method: GET\n:scheme: http\n:path: /\nx-a-rather-long-field-Name: 1\n",
    ":method: GET\n:scheme: http\n:path: /\nx-a-rather-long-field-nam\x7f: 1\n",
    ":method: GET\n:scheme: http\n:path: /\nx-a-rather-long-fi\xc3\xa9ld: 1\n",
    ":method: GET\n:scheme: http\n:path: /\nx-a-rather:long-field: 1\n",
};

START_TEST(malformed_request_is_stream_error)
{
    tp_headers(1, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, malformed[_i]);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(1), PW_H2_PROTOCOL_ERROR);
    ck_assert_uint_eq(tp_count('H'), 0);
    ck_assert_uint_eq(tp_count('C'), 0); /* the application never saw it */
    /* The connection lives on, HPACK in sync: the next request works. */
    tp_request(3, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_count('H'), 1);
    ck_assert_uint_eq(tp_goaway(), UINT32_MAX);
}
END_TEST

START_TEST(valid_variants_accepted)
{
    tp_headers(1, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM,
               ":method: CONNECT\n:authority: a:443\n");
    tp_headers(3, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM,
               ":method: GET\n:scheme: https\n:path: /\nte: trailers\ncontent-length: 0\n");
    /* Long values with inner spaces, tabs and bytes >= 0x80 are fine (§8.2.1). */
    tp_headers(5, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM,
               ":method: GET\n:scheme: https\n:path: /a/long/path/of/many/bytes\n"
               "user-agent: grpc-python/1.51.1 grpc-c/29.0.0 (linux; chttp2)\n"
               "x-v: a\tb c\xc3\xa9"
               "d\x7f"
               "0123456789abcdef\n");
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_count('H'), 3);
    ck_assert_uint_eq(tp_rst(1), UINT32_MAX);
}
END_TEST

START_TEST(trailers_rules)
{
    tp_request(1, false);
    tp_headers(1, PW_H2_FLAG_END_HEADERS, "x-t: 1\n"); /* §8.1: no END_STREAM: malformed */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(1), PW_H2_PROTOCOL_ERROR);
    ck_assert_uint_eq(tp_last('C')->code, PW_H2_PROTOCOL_ERROR);
    tp_request(3, false);
    tp_headers(3, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, ":path: /x\n");
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(3), PW_H2_PROTOCOL_ERROR); /* pseudo in trailers */
}
END_TEST

START_TEST(content_length_mismatch)
{
    tp_headers(1, PW_H2_FLAG_END_HEADERS, TP_REQ "content-length: 5\n");
    tp_data(1, "abc", 3, true);
    tp_headers(3, PW_H2_FLAG_END_HEADERS, TP_REQ "content-length: 2\n");
    tp_data(3, "abc", 3, false);
    tp_headers(5, PW_H2_FLAG_END_HEADERS, TP_REQ "content-length: 3\n");
    tp_data(5, "ab", 2, false);
    tp_data(5, "c", 1, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(1), PW_H2_PROTOCOL_ERROR);
    ck_assert_uint_eq(tp_rst(3), PW_H2_PROTOCOL_ERROR);
    ck_assert_uint_eq(tp_rst(5), UINT32_MAX);
    ck_assert_uint_eq(tp_data_bytes[5], 3);
    ck_assert_uint_eq(tp_data_bytes[3], 0);
}
END_TEST

/* ---- stream ids and states (§5.1, §5.1.1) ---- */

START_TEST(even_stream_id_is_connection_error)
{
    tp_request(2, true);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    ck_assert_uint_eq(tp_goaway(), PW_H2_PROTOCOL_ERROR);
}
END_TEST

START_TEST(decreasing_stream_id_is_connection_error)
{
    tp_request(5, true);
    tp_request(3, true);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    ck_assert_uint_eq(tp_goaway(), PW_H2_PROTOCOL_ERROR);
    /* GOAWAY names the last stream processed. */
    ck_assert_uint_eq(tp_get32(tp_find(PW_H2_FT_GOAWAY, 0)->p), 5);
    ck_assert_uint_eq(tp_closes[5], 1);
}
END_TEST

START_TEST(frames_on_idle_streams)
{
    tp_data(1, "x", 1, false); /* §5.1 idle: only HEADERS / PRIORITY */
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    tp_stop();
    start();
    ck_assert_int_eq(pw_h2_write_rst_stream(&tp_in, 1, PW_H2_CANCEL), 0);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    tp_stop();
    start();
    tp_window_update(7, 10);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    tp_stop();
    start();
    pw_h2_priority pri = {0, 16, false};
    ck_assert_int_eq(pw_h2_write_priority(&tp_in, 9, &pri), 0); /* allowed, ignored */
    tp_request(1, true);                                        /* and does not open stream 9 */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_count('H'), 1);
}
END_TEST

START_TEST(data_on_half_closed_remote_is_stream_closed)
{
    tp_request(1, true);
    tp_data(1, "x", 1, false);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(1), PW_H2_STREAM_CLOSED);
    ck_assert_uint_eq(tp_last('C')->code, PW_H2_STREAM_CLOSED);
    /* HEADERS there too (decoded for HPACK sync, then refused). */
    tp_request(3, true);
    tp_headers(3, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, "x-a: 1\n");
    tp_request(5, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(3), PW_H2_STREAM_CLOSED);
    ck_assert_uint_eq(tp_count('H'), 3);
}
END_TEST

START_TEST(data_after_peer_reset_is_stream_closed)
{
    tp_request(1, false);
    ck_assert_int_eq(pw_h2_write_rst_stream(&tp_in, 1, PW_H2_CANCEL), 0);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_last('C')->code, PW_H2_CANCEL);
    /* RST_STREAM and WINDOW_UPDATE on a closed stream are ignored. */
    ck_assert_int_eq(pw_h2_write_rst_stream(&tp_in, 1, PW_H2_CANCEL), 0);
    tp_window_update(1, 5);
    ck_assert_int_ge(tp_flush(), 0);
    tp_data(1, "x", 1, false);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_STREAM_CLOSED);
    ck_assert_uint_eq(tp_goaway(), PW_H2_STREAM_CLOSED);
}
END_TEST

START_TEST(data_after_our_reset_is_ignored)
{
    tp_request(1, false);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_int_eq(pw_h2_submit_rst(S, 1, PW_H2_CANCEL), 0);
    ck_assert_uint_eq(tp_rst(1), PW_H2_CANCEL);
    ck_assert_uint_eq(tp_closes[1], 1);
    ck_assert_uint_eq(tp_last('C')->code, PW_H2_CANCEL);
    static uint8_t chunk[16384];
    for (int i = 0; i < 40; i++) tp_data(1, chunk, sizeof chunk, false); /* in flight: 640 KiB */
    tp_headers(1, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, "x-t: 1\n");
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_count('D'), 0);
    /* §6.9: the discarded DATA still returns to the connection window. */
    tp_drain();
    tp_frame *wu = tp_find(PW_H2_FT_WINDOW_UPDATE, 0);
    ck_assert_ptr_nonnull(wu);
    ck_assert_uint_ge(tp_get32(wu->p), PW_H2_DEFAULT_CONN_WINDOW_BYTES / 2);
    ck_assert_uint_eq(tp_goaway(), UINT32_MAX);
}
END_TEST

START_TEST(max_concurrent_streams_refused)
{
    tp_stop();
    pw_h2_config cfg;
    pw_h2_config_default(&cfg);
    cfg.max_concurrent_streams = 2;
    tp_start_server(&cfg);
    tp_request(1, false);
    tp_request(3, false);
    tp_request(5, false);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(5), PW_H2_REFUSED_STREAM); /* §5.1.2 */
    ck_assert_uint_eq(tp_count('H'), 2);
    tp_data(5, "x", 1, false); /* in flight after our refusal: ignored */
    tp_data(1, "x", 1, true);  /* half-closed (remote) still counts */
    tp_request(7, false);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(7), PW_H2_REFUSED_STREAM);
    ck_assert_int_eq(pw_h2_submit_rst(S, 1, PW_H2_NO_ERROR), 0);
    tp_request(9, false);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(9), UINT32_MAX);
    ck_assert_uint_eq(tp_count('H'), 3);
}
END_TEST

/* ---- SETTINGS (§6.5) ---- */

static const struct {
    uint16_t id;
    uint32_t v;
    uint32_t code;
} bad_settings[] = {
    {PW_H2_SETTINGS_ENABLE_PUSH, 2, PW_H2_PROTOCOL_ERROR},
    {PW_H2_SETTINGS_INITIAL_WINDOW_SIZE, 0x80000000u, PW_H2_FLOW_CONTROL_ERROR},
    {PW_H2_SETTINGS_MAX_FRAME_SIZE, 16383, PW_H2_PROTOCOL_ERROR},
    {PW_H2_SETTINGS_MAX_FRAME_SIZE, 16777216, PW_H2_PROTOCOL_ERROR},
};

START_TEST(settings_invalid_values)
{
    pw_h2_setting st = {bad_settings[_i].id, bad_settings[_i].v};
    tp_settings(&st, 1);
    ck_assert_int_eq(tp_flush(), (ssize_t)pw_h2_err_from_code(bad_settings[_i].code));
    ck_assert_uint_eq(tp_goaway(), bad_settings[_i].code);
}
END_TEST

START_TEST(settings_malformed_frames)
{
    tp_frame_raw(6, PW_H2_FT_SETTINGS, PW_H2_FLAG_ACK, 0, "\0\x01\0\0\0\0");
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_FRAME_SIZE);
    tp_stop();
    start();
    tp_frame_raw(7, PW_H2_FT_SETTINGS, 0, 0, "\0\x01\0\0\0\0\0");
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_FRAME_SIZE);
    tp_stop();
    start();
    tp_frame_raw(0, PW_H2_FT_SETTINGS, 0, 1, "");
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
}
END_TEST

START_TEST(settings_ack_and_unknown_ignored)
{
    pw_h2_setting st[] = {{0x77, 5}, {PW_H2_SETTINGS_HEADER_TABLE_SIZE, 0}};
    tp_settings(st, 2);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    ck_assert_uint_eq(tp_nout, 1);
    ck_assert_uint_eq(tp_out[0].hd.type, PW_H2_FT_SETTINGS);
    ck_assert_uint_eq(tp_out[0].hd.flags, PW_H2_FLAG_ACK);
    ck_assert_uint_eq(tp_out[0].hd.length, 0);
    /* Table size 0: the next block starts with a size update the peer decoder accepts. */
    tp_request(1, true);
    ck_assert_int_ge(tp_flush(), 0);
    pw_h2_header rh[] = {PW_H2_HDR(":status", "200")};
    ck_assert_int_eq(pw_h2_submit_headers(S, 1, rh, 1, true), 0);
    tp_drain();
    size_t i = 0;
    char text[4096];
    tp_block(1, &i, text);
    ck_assert_str_eq(text, ":status: 200\n");
}
END_TEST

int main(void)
{
    Suite *su = suite_create("pw_h2_session");
    TCase *tc = tcase_create("server");
    tcase_add_test(tc, server_sends_settings_at_creation);
    tcase_add_test(tc, bad_preface_is_protocol_error);
    tcase_add_test(tc, first_frame_must_be_settings);
    suite_add_tcase(su, tc);
    tc = tcase_create("streams");
    tcase_add_checked_fixture(tc, start, stop);
    tcase_add_test(tc, request_response_with_trailers);
    tcase_add_test(tc, header_block_cache);
    tcase_add_test(tc, constant_lists_known_by_address);
    tcase_add_test(tc, stream_memory_kept_across_a_momentary_idle);
    tcase_add_test(tc, header_scratch_kept_while_a_stream_is_live);
    tcase_add_test(tc, request_trailers_and_user_pointer);
    tcase_add_test(tc, partial_frames_byte_by_byte);
    tcase_add_test(tc, response_header_block_split_into_continuations);
    tcase_add_loop_test(tc, malformed_request_is_stream_error, 0,
                        (int)(sizeof malformed / sizeof malformed[0]));
    tcase_add_test(tc, valid_variants_accepted);
    tcase_add_test(tc, trailers_rules);
    tcase_add_test(tc, content_length_mismatch);
    tcase_add_test(tc, even_stream_id_is_connection_error);
    tcase_add_test(tc, decreasing_stream_id_is_connection_error);
    tcase_add_test(tc, frames_on_idle_streams);
    tcase_add_test(tc, data_on_half_closed_remote_is_stream_closed);
    tcase_add_test(tc, data_after_peer_reset_is_stream_closed);
    tcase_add_test(tc, data_after_our_reset_is_ignored);
    tcase_add_test(tc, max_concurrent_streams_refused);
    tcase_add_loop_test(tc, settings_invalid_values, 0,
                        (int)(sizeof bad_settings / sizeof bad_settings[0]));
    tcase_add_test(tc, settings_malformed_frames);
    tcase_add_test(tc, settings_ack_and_unknown_ignored);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
