/* Allocation failure in a server pw_h2 session driven by the scripted peer
 * (test_pw_h2_peer.h): preface and SETTINGS, two requests (one with its header block split
 * over CONTINUATION, both with fields that enter the HPACK dynamic table, one with a body),
 * answers with headers, DATA above a frame and trailers, a PING and a WINDOW_UPDATE. A dry run
 * counts the session's allocations (the peer's own are not armed: core/rt_alloc's counting
 * allocator is disarmed around them); then the walk fails allocation N for every N and checks:
 *   - receive returns the whole input or PW_H2_ERR_* (never errno, never a bare -1), and then a
 *     GOAWAY carrying pw_h2_err_code of that result is in the output;
 *   - a submit returns 0, -ENOMEM (the application then resets the stream), or -ENOENT /
 *     PW_H2_ERR_* once the session has failed; nothing else;
 *   - every stream that began closes exactly once, and the peer sees each answer whole, or a
 *     RST_STREAM for it, or the connection's GOAWAY with an error: never half an answer that
 *     ends as if complete;
 *   - after destroy no block the session allocated is live. */
#include "tests/unit/test_pw_h2_peer.h"

#include "core/rt_alloc.h"

#define BODY_BYTES 20000u /* the answer's DATA: more than one 16 KiB frame */
#define WALK_MAX 2000u

static uint8_t body[BODY_BYTES];

typedef struct outcome {
    bool failed_session; /* recv or a submit reported the session failed */
    uint32_t goaway_code;
    bool reset[2]; /* the application reset stream 1 / 3 after -ENOMEM */
} outcome;

/* Feeds the peer's queued input (armed) and checks the result's error space. */
static void feed(outcome *o)
{
    rt_alloc_test_arm(1);
    ssize_t r = pw_h2_session_recv(S, buf_begin(&tp_in), buf_size(&tp_in), tp_now);
    rt_alloc_test_arm(0);
    if (r < 0) {
        ck_assert_msg(pw_h2_is_err(r), "recv returned %zd (%s)", r, pw_h2_strerror(r));
        o->failed_session = true;
    } else {
        ck_assert_int_eq(r, (ssize_t)buf_size(&tp_in));
    }
    buf_consume(&tp_in, buf_size(&tp_in));
    rt_alloc_test_arm(1);
    tp_drain();
    rt_alloc_test_arm(0);
}

/* A submit's result: 0, or -ENOMEM (then reset the stream), or the session is gone. */
static bool submit_ok(int64_t rc, uint32_t sid, outcome *o)
{
    if (rc >= 0) return true;
    if (rc == -ENOMEM) {
        o->reset[sid / 2] = true;
        rt_alloc_test_arm(1);
        int r = pw_h2_submit_rst(S, sid, PW_H2_INTERNAL_ERROR);
        rt_alloc_test_arm(0);
        ck_assert_msg(r == 0 || r == -ENOENT || pw_h2_is_err(r), "rst: %d", r);
        return false;
    }
    ck_assert_msg(rc == -ENOENT || pw_h2_is_err(rc), "submit on %u: %lld (%s)", sid, (long long)rc,
                  pw_h2_strerror(rc));
    o->failed_session = o->failed_session || pw_h2_session_want_close(S);
    return false;
}

static void answer(uint32_t sid, outcome *o)
{
    static const pw_h2_header hdrs[] = {PW_H2_HDR(":status", "200"),
                                        PW_H2_HDR("content-type", "application/grpc"),
                                        PW_H2_HDR("x-answer-field", "a value the table keeps")};
    static const pw_h2_header trl[] = {PW_H2_HDR("grpc-status", "0")};
    rt_alloc_test_arm(1);
    int64_t rc = pw_h2_submit_headers(S, sid, hdrs, 3, false);
    rt_alloc_test_arm(0);
    if (!submit_ok(rc, sid, o)) return;
    rt_alloc_test_arm(1);
    rc = pw_h2_submit_data(S, sid, body, sizeof body, false);
    rt_alloc_test_arm(0);
    if (rc >= 0) ck_assert_int_eq(rc, (int64_t)sizeof body); /* below the pending cap */
    if (!submit_ok(rc, sid, o)) return;
    rt_alloc_test_arm(1);
    rc = pw_h2_submit_trailers(S, sid, trl, 1);
    rt_alloc_test_arm(0);
    (void)submit_ok(rc, sid, o);
}

/* What the peer received on `sid`: 1 whole answer, 0 a RST_STREAM, -1 nothing conclusive. */
static int answer_seen(uint32_t sid)
{
    if (tp_find(PW_H2_FT_RST_STREAM, sid)) return 0;
    size_t data = 0, headers = 0;
    bool ended = false;
    for (size_t i = 0; i < tp_nout; i++) {
        const tp_frame *f = &tp_out[i];
        if (f->hd.stream_id != sid) continue;
        ck_assert_msg(!ended, "frame after END_STREAM on %u", sid);
        if (f->hd.type == PW_H2_FT_DATA) data += f->hd.length;
        if (f->hd.type == PW_H2_FT_HEADERS) headers++;
        if ((f->hd.type == PW_H2_FT_HEADERS || f->hd.type == PW_H2_FT_DATA) &&
            (f->hd.flags & PW_H2_FLAG_END_STREAM))
            ended = true;
    }
    if (!ended) return -1;
    /* Ended as if complete: then it is complete. */
    ck_assert_msg(headers == 2 && data == BODY_BYTES,
                  "stream %u ended with %zu header blocks "
                  "and %zu bytes",
                  sid, headers, data);
    return 1;
}

/* One exchange with armed allocation `fail_nth` failing (0: none). */
static void exchange(uint64_t fail_nth, uint64_t *allocs)
{
    outcome o = {.goaway_code = UINT32_MAX};
    rt_alloc_test_start(fail_nth);
    rt_alloc_test_arm(0);
    tp_reset_peer();
    rt_alloc_test_arm(1);
    S = pw_h2_session_create(PW_H2_ROLE_SERVER, NULL, &tp_cb, NULL);
    rt_alloc_test_arm(0);
    if (!S) {
        ck_assert(rt_alloc_test_failed());
        goto done;
    }
    ck_assert_int_eq(buf_append(&tp_in, pw_h2_preface, PW_H2_PREFACE_BYTES), 0);
    tp_settings(NULL, 0);
    ck_assert_int_eq(pw_h2_write_settings_ack(&tp_in), 0);
    feed(&o);
    /* Stream 1: one HEADERS, END_STREAM. */
    tp_headers(1, PW_H2_FLAG_END_HEADERS | PW_H2_FLAG_END_STREAM,
               TP_REQ "x-custom-one: indexed into the dynamic table\n");
    /* Stream 3: HEADERS + CONTINUATION, then a body. */
    buf blk;
    buf_init(&blk, 1 << 16);
    tp_encode(&blk, TP_REQ "x-custom-two: another field for the table\nx-three: 3\n");
    size_t half = buf_size(&blk) / 2;
    tp_frame_raw((uint32_t)half, PW_H2_FT_HEADERS, 0, 3, buf_begin(&blk));
    tp_frame_raw((uint32_t)(buf_size(&blk) - half), PW_H2_FT_CONTINUATION, PW_H2_FLAG_END_HEADERS,
                 3, buf_begin(&blk) + half);
    buf_deinit(&blk);
    tp_data(3, "request body", 12, true);
    feed(&o);
    for (uint32_t sid = 1; sid <= 3; sid += 2)
        if (!o.failed_session && tp_closes[sid] == 0) answer(sid, &o);
    rt_alloc_test_arm(1);
    tp_drain();
    rt_alloc_test_arm(0);
    /* A PING and a WINDOW_UPDATE: control output after the answers. */
    ck_assert_int_eq(pw_h2_write_ping(&tp_in, false, (const uint8_t *)"12345678"), 0);
    tp_window_update(0, 1 << 20);
    feed(&o);
    o.goaway_code = tp_goaway();
    if (o.failed_session) { /* a connection error: the peer was told, with the right code */
        ck_assert_msg(o.goaway_code != UINT32_MAX && o.goaway_code != PW_H2_NO_ERROR,
                      "N=%llu: session failed without a GOAWAY", (unsigned long long)fail_nth);
        const char *desc = NULL;
        ck_assert_uint_eq(pw_h2_session_error(S, &desc), o.goaway_code);
    }
    for (uint32_t sid = 1; sid <= 3; sid += 2) {
        const int seen = answer_seen(sid);
        if (seen < 0)
            ck_assert_msg(o.failed_session,
                          "N=%llu: stream %u neither answered, reset nor "
                          "ended by GOAWAY",
                          (unsigned long long)fail_nth, sid);
        if (!rt_alloc_test_failed()) ck_assert_int_eq(seen, 1);
    }
    rt_alloc_test_arm(1);
    pw_h2_session_destroy(S);
    rt_alloc_test_arm(0);
    S = NULL;
    for (size_t i = 0; i < tp_nev; i++) /* each stream that began closed exactly once */
        if (tp_evs[i].kind == 'B')
            ck_assert_msg(tp_closes[tp_evs[i].sid] == 1, "N=%llu: stream %u closed %u times",
                          (unsigned long long)fail_nth, tp_evs[i].sid, tp_closes[tp_evs[i].sid]);
done:
    if (S) pw_h2_session_destroy(S);
    S = NULL;
    buf_deinit(&tp_in);
    pw_hpack_enc_deinit(&tp_enc);
    pw_hpack_dec_deinit(&tp_dec);
    *allocs = rt_alloc_test_count();
    const int64_t live = rt_alloc_test_live();
    rt_alloc_test_stop();
    ck_assert_msg(live == 0, "N=%llu: %lld blocks leaked", (unsigned long long)fail_nth,
                  (long long)live);
}

START_TEST(dry_run_answers_both)
{
    memset(body, 'b', sizeof body);
    uint64_t allocs = 0;
    exchange(0, &allocs);
    ck_assert_uint_gt(allocs, 5);
    ck_assert_uint_lt(allocs, WALK_MAX);
}
END_TEST

START_TEST(fail_each_allocation)
{
    memset(body, 'b', sizeof body);
    uint64_t total = 0;
    exchange(0, &total);
    for (uint64_t n = 1; n <= total; n++) {
        uint64_t allocs = 0;
        exchange(n, &allocs);
    }
    fprintf(stderr, "pw_h2_alloc: %llu allocations walked\n", (unsigned long long)total);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("pw_h2_alloc");
    TCase *tc = tcase_create("walk");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, dry_run_answers_both);
    tcase_add_test(tc, fail_each_allocation);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    free(tp_outbytes);
    return failed ? 1 : 0;
}
