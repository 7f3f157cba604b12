/* Unit tests for the pw_h2 session, client role: against a scripted server (raw frames), and a
 * client session talking to a server session through an in-memory pipe. */
#include "tests/unit/test_pw_h2_peer.h"
#include "ts_main.h"

/* A client session S that got the server's SETTINGS and whose preface output is consumed. */
static void start(void)
{
    tp_reset_peer();
    S = pw_h2_session_create(PW_H2_ROLE_CLIENT, NULL, &tp_cb, NULL);
    ck_assert_ptr_nonnull(S);
    tp_skip_preface = PW_H2_PREFACE_BYTES;
    tp_drain();
    ck_assert_uint_eq(tp_out[0].hd.type, PW_H2_FT_SETTINGS);
    bool push_off = false;
    for (size_t i = 0; i < tp_out[0].hd.length; i += 6)
        if (tp_out[0].p[i + 1] == PW_H2_SETTINGS_ENABLE_PUSH)
            push_off = tp_get32(tp_out[0].p + i + 2) == 0;
    ck_assert(push_off);
    tp_settings(NULL, 0);
    ck_assert_int_eq(pw_h2_write_settings_ack(&tp_in), 0);
    ck_assert_int_ge(tp_flush(), 0);
    tp_drain();
    tp_out_reset();
}

static void stop(void) { tp_stop(); }

static const pw_h2_header req[] = {
    PW_H2_HDR(":method", "POST"),
    PW_H2_HDR(":scheme", "http"),
    PW_H2_HDR(":path", "/svc/M"),
    PW_H2_HDR(":authority", "localhost"),
    PW_H2_HDR("content-type", "application/grpc"),
    PW_H2_HDR("te", "trailers"),
};
#define NREQ (sizeof req / sizeof req[0])

START_TEST(request_and_response)
{
    static int user;
    int64_t id = pw_h2_submit_request(S, req, NREQ, false, &user);
    ck_assert_int_eq(id, 1);
    ck_assert_ptr_eq(pw_h2_stream_get_user(S, 1), &user);
    ck_assert_int_eq(pw_h2_submit_data(S, 1, (const uint8_t *)"hello", 5, true), 5);
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), 3); /* odd, increasing */
    tp_drain();
    size_t i = 0;
    char text[4096];
    ck_assert_uint_eq(tp_block(1, &i, text) & PW_H2_FLAG_END_STREAM, 0);
    ck_assert_str_eq(text, TP_REQ);
    ck_assert(tp_find(PW_H2_FT_HEADERS, 3) > tp_find(PW_H2_FT_HEADERS, 1)); /* ids in order */
    tp_frame *d = tp_find(PW_H2_FT_DATA, 1);
    ck_assert_uint_eq(d->hd.flags, PW_H2_FLAG_END_STREAM);
    ck_assert_mem_eq(d->p, "hello", 5);
    /* The server answers: 100 Continue, final headers, DATA, trailers. */
    tp_headers(1, PW_H2_FLAG_END_HEADERS, ":status: 100\n");
    tp_headers(1, PW_H2_FLAG_END_HEADERS, ":status: 200\ncontent-type: application/grpc\n");
    tp_data(1, "world", 5, false);
    tp_headers(1, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, "grpc-status: 0\n");
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_evs[0].kind, 'H');
    ck_assert_uint_eq(tp_evs[0].flags, PW_H2_HF_INFORMATIONAL);
    ck_assert_uint_eq(tp_evs[1].kind, 'H');
    ck_assert_uint_eq(tp_evs[1].flags, 0);
    ck_assert_str_eq(tp_evs[1].text, ":status: 200\ncontent-type: application/grpc\n");
    ck_assert_uint_eq(tp_evs[2].kind, 'D');
    ck_assert_uint_eq(tp_evs[3].kind, 'H');
    ck_assert_uint_eq(tp_evs[3].flags, PW_H2_HF_TRAILERS | PW_H2_HF_END_STREAM);
    ck_assert_uint_eq(tp_evs[4].kind, 'C');
    ck_assert_uint_eq(tp_evs[4].code, PW_H2_NO_ERROR);
    ck_assert_uint_eq(tp_closes[1], 1);
}
END_TEST

/* A client's requests to one method carry the same list: the block cache keeps it (the slot of
 * the response headers a client never sends), so from the second request on it is not copied
 * and from the third sent as kept bytes (no HPACK encode); the server decodes each right. */
START_TEST(request_header_block_cache)
{
    char text[4096];
    for (int64_t sid = 1; sid <= 5; sid += 2) {
        tp_out_reset();
        ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), sid);
        tp_drain();
        size_t i = 0;
        ck_assert_uint_eq(tp_block((uint32_t)sid, &i, text) & PW_H2_FLAG_END_STREAM,
                          PW_H2_FLAG_END_STREAM);
        ck_assert_str_eq(text, TP_REQ);
    }
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.hblocks_cached, 1);
}
END_TEST

/* Every gRPC answer is the same response headers then the same OK trailers: both kinds are kept
 * in the decoded-block cache (one slot each), so once the peer's blocks are all indexes each one
 * is delivered without decoding; a single slot evicted each with the other (no hit ever). */
START_TEST(response_headers_and_trailers_decoded_from_cache)
{
    static const char *rh = ":status: 200\ncontent-type: application/grpc\n",
                      *tr = "grpc-status: 0\n";
    pw_h2_stats st;
    for (int64_t sid = 1; sid <= 9; sid += 2) {
        ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), sid);
        tp_drain();
        tp_headers((uint32_t)sid, PW_H2_FLAG_END_HEADERS, rh);
        tp_data((uint32_t)sid, "x", 1, false);
        tp_headers((uint32_t)sid, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, tr);
        ck_assert_int_ge(tp_flush(), 0);
        tp_ev *e = tp_last('H');
        ck_assert_uint_eq(e->sid, (uint32_t)sid);
        ck_assert_str_eq(e->text, tr);
        ck_assert_uint_eq(e->flags, PW_H2_HF_TRAILERS | PW_H2_HF_END_STREAM);
    }
    /* Answers 1 insert, 2 are kept, 3-5 hit: two blocks each. */
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.hblocks_decoded_cached, 6);
    size_t nh = 0;
    for (size_t i = 0; i < tp_nev; i++)
        if (tp_evs[i].kind == 'H' && !(tp_evs[i].flags & PW_H2_HF_TRAILERS)) {
            ck_assert_str_eq(tp_evs[i].text, rh);
            nh++;
        }
    ck_assert_uint_eq(nh, 5);
}
END_TEST

START_TEST(malformed_responses)
{
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), 1);
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), 3);
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), 5);
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), 7);
    tp_drain();
    tp_headers(1, PW_H2_FLAG_END_HEADERS, "content-type: x\n"); /* no :status */
    tp_headers(3, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, ":status: 103\n"); /* 1xx ES */
    tp_data(5, "x", 1, true);                                              /* DATA first */
    tp_headers(7, PW_H2_FLAG_END_HEADERS, ":method: GET\n:status: 200\n"); /* request pseudo */
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_rst(1), PW_H2_PROTOCOL_ERROR);
    ck_assert_uint_eq(tp_rst(3), PW_H2_PROTOCOL_ERROR);
    ck_assert_uint_eq(tp_rst(5), PW_H2_PROTOCOL_ERROR);
    ck_assert_uint_eq(tp_rst(7), PW_H2_PROTOCOL_ERROR);
    ck_assert_uint_eq(tp_count('H'), 0);
    ck_assert_uint_eq(tp_count('C'), 4);
}
END_TEST

START_TEST(head_response_without_body)
{
    pw_h2_header head[] = {PW_H2_HDR(":method", "HEAD"), PW_H2_HDR(":scheme", "http"),
                           PW_H2_HDR(":path", "/")};
    ck_assert_int_eq(pw_h2_submit_request(S, head, 3, true, NULL), 1);
    tp_headers(1, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM,
               ":status: 200\ncontent-length: 1234\n");
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_count('H'), 1);
    ck_assert_uint_eq(tp_last('C')->code, PW_H2_NO_ERROR);
}
END_TEST

START_TEST(server_must_start_with_settings)
{
    tp_stop();
    tp_reset_peer();
    S = pw_h2_session_create(PW_H2_ROLE_CLIENT, NULL, &tp_cb, NULL);
    ck_assert_int_eq(pw_h2_write_ping(&tp_in, false, (const uint8_t *)"12345678"), 0);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
}
END_TEST

START_TEST(push_is_refused)
{
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), 1);
    ck_assert_int_eq(pw_h2_write_push_promise(&tp_in, 1, PW_H2_FLAG_END_HEADERS, 2,
                                              (const uint8_t *)"\x82", 1, -1),
                     0);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL); /* §6.6: we disabled push */
    tp_stop();
    start();
    pw_h2_setting st = {PW_H2_SETTINGS_ENABLE_PUSH, 1}; /* §6.5.2 */
    tp_settings(&st, 1);
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
    tp_stop();
    start();
    tp_headers(2, PW_H2_FLAG_END_HEADERS, ":status: 200\n"); /* server stream, no promise */
    ck_assert_int_eq(tp_flush(), PW_H2_ERR_PROTOCOL);
}
END_TEST

START_TEST(goaway_refuses_unprocessed_streams)
{
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), 1);
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), 3);
    ck_assert_int_eq(pw_h2_write_goaway(&tp_in, 1, PW_H2_NO_ERROR, NULL, 0), 0);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(tp_last('G')->sid, 1);
    ck_assert_uint_eq(tp_closes[3], 1);
    ck_assert_uint_eq(tp_last('C')->code, PW_H2_REFUSED_STREAM); /* safe to retry */
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), -ENOTCONN);
    ck_assert(!pw_h2_session_want_close(S));
    tp_headers(1, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM, ":status: 200\n");
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert(pw_h2_session_want_close(S));
}
END_TEST

START_TEST(peer_concurrency_limit)
{
    pw_h2_setting st = {PW_H2_SETTINGS_MAX_CONCURRENT_STREAMS, 1};
    tp_settings(&st, 1);
    ck_assert_int_ge(tp_flush(), 0);
    pw_h2_header bad[] = {PW_H2_HDR("Bad", "x")};
    ck_assert_int_eq(pw_h2_submit_request(S, bad, 1, true, NULL), -EINVAL);
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), 1);
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), -EAGAIN);
    ck_assert_int_eq(pw_h2_submit_rst(S, 1, PW_H2_CANCEL), 0);
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, true, NULL), 3);
}
END_TEST

/* Before the server's SETTINGS a client opens at most PW_H2_CLIENT_INITIAL_PEER_STREAMS streams
 * (so a server allowing fewer refuses few); SETTINGS without MAX_CONCURRENT_STREAMS lift it. */
START_TEST(initial_concurrency_until_settings)
{
    tp_stop();
    tp_reset_peer();
    S = pw_h2_session_create(PW_H2_ROLE_CLIENT, NULL, &tp_cb, NULL);
    ck_assert_ptr_nonnull(S);
    for (uint32_t i = 0; i < PW_H2_CLIENT_INITIAL_PEER_STREAMS; i++)
        ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, false, NULL), 1 + 2 * i);
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, false, NULL), -EAGAIN);
    tp_settings(NULL, 0);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, false, NULL),
                     1 + 2 * PW_H2_CLIENT_INITIAL_PEER_STREAMS);
}
END_TEST

START_TEST(server_cannot_submit_request)
{
    pw_h2_session *sv = pw_h2_session_create(PW_H2_ROLE_SERVER, NULL, &tp_cb, NULL);
    ck_assert_int_eq(pw_h2_submit_request(sv, req, NREQ, true, NULL), -EPROTO);
    pw_h2_session_destroy(sv);
}
END_TEST

/* ---- client session <-> server session ---- */

static pw_h2_session *SV;
static size_t sv_bytes;

static int sv_on_headers(void *ud, uint32_t sid, const pw_h2_header *h, size_t n, unsigned flags)
{
    (void)ud;
    (void)h;
    (void)n;
    (void)flags;
    pw_h2_header rh[] = {PW_H2_HDR(":status", "200"),
                         PW_H2_HDR("content-type", "application/grpc")};
    return pw_h2_submit_headers(SV, sid, rh, 2, false);
}

static int sv_on_data(void *ud, uint32_t sid, const uint8_t *p, size_t n, bool es)
{
    (void)ud;
    sv_bytes += n;
    pw_h2_consume(SV, sid, n);
    ck_assert_int_eq(pw_h2_submit_data(SV, sid, p, n, false), (ssize_t)n); /* echo */
    if (es) {
        pw_h2_header tr[] = {PW_H2_HDR("grpc-status", "0")};
        ck_assert_int_eq(pw_h2_submit_trailers(SV, sid, tr, 1), 0);
    }
    return 0;
}

static const pw_h2_callbacks sv_cb = {.on_headers = sv_on_headers, .on_data = sv_on_data};

/* Moves bytes both ways until neither side has anything to say. */
static void pipe_run(void)
{
    for (int round = 0; round < 1000; round++) {
        const uint8_t *p;
        size_t n, moved = 0;
        pw_h2_session_output(S, &p, &n);
        if (n) {
            ck_assert_int_eq(pw_h2_session_recv(SV, p, n, tp_now), (ssize_t)n);
            pw_h2_session_output_consume(S, n);
            moved += n;
        }
        pw_h2_session_output(SV, &p, &n);
        if (n) {
            ck_assert_int_eq(pw_h2_session_recv(S, p, n, tp_now), (ssize_t)n);
            pw_h2_session_output_consume(SV, n);
            moved += n;
        }
        if (!moved) return;
    }
    ck_abort_msg("pipe did not settle");
}

static int cl_consume(uint32_t sid, size_t n, bool es)
{
    (void)es;
    return pw_h2_consume(S, sid, n);
}

START_TEST(client_talks_to_server)
{
    tp_stop();
    tp_reset_peer();
    S = pw_h2_session_create(PW_H2_ROLE_CLIENT, NULL, &tp_cb, NULL);
    pw_h2_config cfg;
    pw_h2_config_default(&cfg);
    cfg.stream_pending_max = 1 << 20; /* the echo never has to wait */
    SV = pw_h2_session_create(PW_H2_ROLE_SERVER, &cfg, &sv_cb, NULL);
    tp_hook_data = cl_consume;
    static uint8_t body[300000];
    for (size_t i = 0; i < sizeof body; i++) body[i] = (uint8_t)(i * 7);
    enum { STREAMS = 20 };
    size_t off[STREAMS] = {0};
    for (int k = 0; k < STREAMS; k++)
        ck_assert_int_eq(pw_h2_submit_request(S, req, NREQ, false, NULL), 1 + 2 * k);
    /* Stream the bodies through both sessions' flow control, as the windows allow. */
    for (int round = 0; round < 10000; round++) {
        bool all = true;
        for (int k = 0; k < STREAMS; k++) {
            uint32_t sid = (uint32_t)(1 + 2 * k);
            if (off[k] == sizeof body) continue;
            all = false;
            ssize_t r = pw_h2_submit_data(S, sid, body + off[k], sizeof body - off[k], true);
            if (r > 0) off[k] += (size_t)r;
        }
        pipe_run();
        if (all) break;
    }
    pipe_run();
    ck_assert_uint_eq(sv_bytes, STREAMS * sizeof body);
    ck_assert_uint_eq(tp_count('C'), STREAMS);
    for (int k = 0; k < STREAMS; k++) {
        uint32_t sid = (uint32_t)(1 + 2 * k);
        ck_assert_uint_eq(tp_data_bytes[sid], sizeof body); /* echoed back */
        ck_assert_uint_eq(tp_closes[sid], 1);
    }
    ck_assert_uint_eq(tp_last('C')->code, PW_H2_NO_ERROR);
    pw_h2_stats st;
    /* Idle for PW_H2_IDLE_KEEP_MS, then an event (empty input): the table goes. */
    tp_now += (uint64_t)PW_H2_IDLE_KEEP_MS * 1000000u;
    ck_assert_int_eq(pw_h2_session_recv(SV, NULL, 0, tp_now), 0);
    ck_assert_int_eq(pw_h2_session_recv(S, NULL, 0, tp_now), 0);
    pw_h2_session_stats(SV, &st);
    ck_assert_uint_eq(st.open_streams, 0);
    ck_assert_uint_eq(st.allocated_bytes, 0);
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.allocated_bytes, 0);
    pw_h2_session_destroy(SV);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("pw_h2_client");
    TCase *tc = tcase_create("client");
    tcase_add_checked_fixture(tc, start, stop);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, request_and_response);
    tcase_add_test(tc, malformed_responses);
    tcase_add_test(tc, request_header_block_cache);
    tcase_add_test(tc, response_headers_and_trailers_decoded_from_cache);
    tcase_add_test(tc, head_response_without_body);
    tcase_add_test(tc, server_must_start_with_settings);
    tcase_add_test(tc, push_is_refused);
    tcase_add_test(tc, goaway_refuses_unprocessed_streams);
    tcase_add_test(tc, peer_concurrency_limit);
    tcase_add_test(tc, server_cannot_submit_request);
    tcase_add_test(tc, initial_concurrency_until_settings);
    tcase_add_test(tc, client_talks_to_server);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
