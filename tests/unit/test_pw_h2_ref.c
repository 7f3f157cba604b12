/* Unit tests for DATA by reference (proto_wire/pw_h2_ref.c) and core/rt_blob: a payload handed
 * to the session with pw_h2_submit_data_ref reaches the output chain as a pointer into the
 * caller's blob (never copied), framed into DATA frames in the stream's byte order with copied
 * pieces around it; the chain is taken by swapping (pw_h2_session_output_take), sent in pieces
 * through iovecs, and releases every reference once consumed or when the stream is reset.
 * Without cfg.output_refs the same submit is copied when framed, and counted. */
#include "tests/unit/test_pw_h2_peer.h"

#include "core/rt_alloc.h"
#include "core/rt_blob.h"
#include "ts_main.h"

#define PAYLOAD_BYTES 40000u /* > two 16 KiB frames: framed into three DATA frames */

static void start_refs(void)
{
    pw_h2_config cfg;
    pw_h2_config_default(&cfg);
    cfg.output_refs = true;
    tp_start_server(&cfg);
}
static void start_plain(void) { tp_start_server(NULL); }
static void stop(void) { tp_stop(); }

static rt_blob *pattern_blob(size_t n, uint8_t seed)
{
    buf b;
    buf_init(&b, n);
    uint8_t *p;
    ck_assert_int_eq(buf_reserve(&b, n, &p), 0);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 7);
    buf_commit(&b, n);
    rt_blob *bl = rt_blob_from_buf(&b, NULL, NULL);
    ck_assert_ptr_nonnull(bl);
    ck_assert_uint_eq(buf_size(&b), 0);
    buf_deinit(&b);
    return bl;
}

static void respond(uint32_t sid)
{
    tp_request(sid, true);
    ck_assert_int_ge(tp_flush(), 0);
    pw_h2_header rh[] = {PW_H2_HDR(":status", "200")};
    ck_assert_int_eq(pw_h2_submit_headers(S, sid, rh, 1, false), 0);
}

static bool inside(const void *p, const rt_blob *b)
{
    const uint8_t *q = p;
    return q >= b->data && q < b->data + b->len;
}

/* Takes the chain, checks which iovecs point into `ref` (counted into *ref_iov_bytes), and sends
 * it `step` bytes at a time (at most 3 iovecs per "send"), appending what was sent to `out`. */
static void take_and_send(buf *out, const rt_blob *ref, size_t step, size_t *ref_iov_bytes)
{
    pw_h2_outv v = {0};
    while (pw_h2_session_output_take(S, &v) > 0) {
        while (pw_h2_outv_size(&v) > 0) {
            struct iovec iov[3];
            int k = pw_h2_outv_iov(&v, iov, 3);
            ck_assert_int_gt(k, 0);
            size_t sent = 0;
            for (int i = 0; i < k && sent < step; i++) {
                size_t n = iov[i].iov_len < step - sent ? iov[i].iov_len : step - sent;
                ck_assert_int_eq(buf_append(out, iov[i].iov_base, n), 0);
                if (ref && inside(iov[i].iov_base, ref)) *ref_iov_bytes += n;
                sent += n;
            }
            pw_h2_outv_consume(&v, sent);
        }
    }
    ck_assert_uint_eq(v.nrefs, 0); /* released once all was sent */
    pw_h2_outv_deinit(&v);
}

static size_t data_frames; /* DATA frames data_of saw */

/* Parses `out` (whole frames) and appends the DATA payloads of `sid` to `data`. Returns the
 * flags of the last DATA frame. */
static uint8_t data_of(const buf *out, uint32_t sid, buf *data)
{
    data_frames = 0;
    const uint8_t *p = buf_begin(out);
    size_t left = buf_size(out);
    uint8_t last = 0;
    while (left) {
        ck_assert_uint_ge(left, PW_H2_FRAME_HEADER_BYTES);
        pw_h2_frame_hd hd;
        pw_h2_frame_hd_decode(&hd, p);
        ck_assert_uint_ge(left - PW_H2_FRAME_HEADER_BYTES, hd.length);
        ck_assert_uint_le(hd.length, PW_H2_OUT_FRAME_MAX_BYTES);
        if (hd.type == PW_H2_FT_DATA && hd.stream_id == sid) {
            ck_assert_int_eq(buf_append(data, p + PW_H2_FRAME_HEADER_BYTES, hd.length), 0);
            last = hd.flags;
            data_frames++;
        }
        p += PW_H2_FRAME_HEADER_BYTES + hd.length;
        left -= PW_H2_FRAME_HEADER_BYTES + hd.length;
    }
    return last;
}

/* Starts the test's two buffers (1 MiB each: what was sent, the DATA payloads of it) and sends
 * what the session has in steps of `step` bytes into `out`. Returns the bytes of them sent from
 * `ref`'s storage. */
static size_t first_send(buf *out, buf *data, const rt_blob *ref, size_t step)
{
    buf_init(out, 1 << 20);
    buf_init(data, 1 << 20);
    size_t ref_bytes = 0;
    take_and_send(out, ref, step, &ref_bytes);
    return ref_bytes;
}

static void bufs_deinit(buf *out, buf *data)
{
    buf_deinit(out);
    buf_deinit(data);
}

START_TEST(payload_goes_out_by_reference_in_order)
{
    respond(1);
    rt_blob *b = pattern_blob(PAYLOAD_BYTES, 3);
    ck_assert_int_eq(pw_h2_submit_data_ref(S, 1, (const uint8_t *)"head", 4, b, b->data, b->len),
                     0);
    ck_assert_uint_ge(b->refs, 2); /* ours, the stream's and any frame already pumped */
    ck_assert_int_eq(pw_h2_submit_data(S, 1, (const uint8_t *)"tail", 4, true), 4);
    buf out, data;
    size_t ref_bytes = first_send(&out, &data, b, 1000);
    ck_assert_uint_eq(ref_bytes, PAYLOAD_BYTES); /* every payload byte sent from the blob */
    ck_assert_uint_eq(data_of(&out, 1, &data) & PW_H2_FLAG_END_STREAM, PW_H2_FLAG_END_STREAM);
    ck_assert_uint_eq(buf_size(&data), 4 + PAYLOAD_BYTES + 4);
    /* The copied head shares its frame with the reference's start (full frames), the tail
     * (a piece of its own behind the reference) gets one more. */
    ck_assert_uint_eq(
        data_frames,
        (4 + PAYLOAD_BYTES + PW_H2_OUT_FRAME_MAX_BYTES - 1) / PW_H2_OUT_FRAME_MAX_BYTES + 1);
    ck_assert_mem_eq(buf_begin(&data), "head", 4);
    ck_assert_mem_eq(buf_begin(&data) + 4, b->data, PAYLOAD_BYTES);
    ck_assert_mem_eq(buf_begin(&data) + 4 + PAYLOAD_BYTES, "tail", 4);
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.data_copied_bytes, 0);
    ck_assert_uint_ge(st.data_ref_bytes, PAYLOAD_BYTES);
    ck_assert_uint_eq(b->copied_bytes, 0);
    ck_assert_uint_eq(b->refs, 1); /* the session let go */
    ck_assert_uint_eq(tp_closes[1], 1);
    rt_blob_unref(b);
    bufs_deinit(&out, &data);
}
END_TEST

START_TEST(windows_split_references_and_resume)
{
    /* A 1000-byte stream window: the reference is framed in pieces as the window opens. */
    pw_h2_setting set = {PW_H2_SETTINGS_INITIAL_WINDOW_SIZE, 1000};
    tp_settings(&set, 1);
    respond(1);
    rt_blob *b = pattern_blob(PAYLOAD_BYTES, 9);
    ck_assert_int_eq(pw_h2_submit_data_ref(S, 1, NULL, 0, b, b->data, b->len), 0);
    ck_assert_int_eq(pw_h2_submit_data(S, 1, NULL, 0, true), 0);
    buf out, data;
    size_t ref_bytes = first_send(&out, &data, b, 1 << 20);
    ck_assert_uint_eq(ref_bytes, 1000);
    while (ref_bytes < PAYLOAD_BYTES) {
        tp_window_update(1, 7000);
        ck_assert_int_ge(tp_flush(), 0);
        take_and_send(&out, b, 333, &ref_bytes);
    }
    ck_assert_uint_eq(data_of(&out, 1, &data) & PW_H2_FLAG_END_STREAM, PW_H2_FLAG_END_STREAM);
    ck_assert_uint_eq(buf_size(&data), PAYLOAD_BYTES);
    ck_assert_mem_eq(buf_begin(&data), b->data, PAYLOAD_BYTES);
    ck_assert_uint_eq(b->refs, 1);
    rt_blob_unref(b);
    bufs_deinit(&out, &data);
}
END_TEST

START_TEST(reset_stream_releases_references)
{
    respond(1);
    pw_h2_setting set = {PW_H2_SETTINGS_INITIAL_WINDOW_SIZE, 0};
    tp_settings(&set, 1);
    ck_assert_int_ge(tp_flush(), 0);
    rt_blob *b = pattern_blob(PAYLOAD_BYTES, 1);
    ck_assert_int_eq(pw_h2_submit_data_ref(S, 1, NULL, 0, b, b->data, b->len), 0);
    ck_assert_uint_eq(b->refs, 2);
    uint8_t code[4] = {0, 0, 0, PW_H2_CANCEL};
    tp_frame_raw(4, PW_H2_FT_RST_STREAM, 0, 1, code);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_uint_eq(b->refs, 1); /* the stream's reference went with it */
    rt_blob_unref(b);
}
END_TEST

START_TEST(chain_held_across_destroy_is_released)
{
    respond(1);
    rt_blob *b = pattern_blob(PAYLOAD_BYTES, 2);
    ck_assert_int_eq(pw_h2_submit_data_ref(S, 1, NULL, 0, b, b->data, b->len), 0);
    rt_blob_unref(b); /* the session holds the last references */
    pw_h2_outv v = {0};
    ck_assert_uint_gt(pw_h2_session_output_take(S, &v), PAYLOAD_BYTES / 4);
    ck_assert_uint_gt(v.nrefs, 0);
    pw_h2_outv_reset(&v); /* a connection closed before sending: every reference dropped */
    ck_assert_uint_eq(pw_h2_outv_size(&v), 0);
    pw_h2_outv_deinit(&v);
    /* tp_stop destroys the session with the rest still queued (ASan: nothing leaks). */
}
END_TEST

START_TEST(without_output_refs_the_payload_is_copied_and_counted)
{
    respond(1);
    rt_blob *b = pattern_blob(PAYLOAD_BYTES, 5);
    ck_assert_int_eq(pw_h2_submit_data_ref(S, 1, NULL, 0, b, b->data, b->len), 0);
    ck_assert_int_eq(pw_h2_submit_data(S, 1, NULL, 0, true), 0);
    tp_drain(); /* the one-buffer API works as always */
    size_t n = 0;
    for (size_t i = 0; i < tp_nout; i++) {
        if (tp_out[i].hd.type != PW_H2_FT_DATA) continue;
        ck_assert_mem_eq(tp_out[i].p, b->data + n, tp_out[i].hd.length);
        n += tp_out[i].hd.length;
    }
    ck_assert_uint_eq(n, PAYLOAD_BYTES);
    ck_assert_uint_eq(b->copied_bytes, PAYLOAD_BYTES);
    pw_h2_stats st;
    pw_h2_session_stats(S, &st);
    ck_assert_uint_eq(st.data_copied_bytes, PAYLOAD_BYTES);
    ck_assert_uint_eq(st.data_ref_bytes, 0);
    ck_assert_uint_eq(b->refs, 1);
    rt_blob_unref(b);
}
END_TEST

START_TEST(submit_ref_errors)
{
    rt_blob *b = pattern_blob(16, 0);
    ck_assert_int_eq(pw_h2_submit_data_ref(S, 1, NULL, 0, b, b->data, b->len), -ENOENT);
    tp_request(1, true);
    ck_assert_int_ge(tp_flush(), 0);
    ck_assert_int_eq(pw_h2_submit_data_ref(S, 1, NULL, 0, b, b->data, b->len),
                     -EPIPE); /* no headers */
    ck_assert_uint_eq(b->refs, 1);
    rt_blob_unref(b);
}
END_TEST

/* The node of a stream's one referenced piece (a unary reply's message, a Work batch) lives in
 * the stream: submitting it allocates nothing (it was a malloc and a free per piece). A second
 * piece queued behind it allocates its own node, and both go out in order, by reference. */
START_TEST(one_referenced_piece_allocates_no_node)
{
    /* No stream window yet: both pieces stay queued on the stream (nothing framed, so the
     * session's output reference array is not what is counted). */
    pw_h2_setting set = {PW_H2_SETTINGS_INITIAL_WINDOW_SIZE, 0};
    tp_settings(&set, 1);
    respond(1);
    ck_assert_int_ge(tp_flush(), 0);
    rt_blob *b = pattern_blob(100, 6), *b2 = pattern_blob(200, 8);
    rt_alloc_test_start(0);
    ck_assert_int_eq(pw_h2_submit_data_ref(S, 1, NULL, 0, b, b->data, b->len), 0);
    uint64_t first = rt_alloc_test_count();
    ck_assert_int_eq(pw_h2_submit_data_ref(S, 1, NULL, 0, b2, b2->data, b2->len), 0);
    uint64_t second = rt_alloc_test_count() - first;
    rt_alloc_test_stop();
    ck_assert_msg(first == 0, "the first referenced piece made %llu allocations",
                  (unsigned long long)first);
    ck_assert_uint_eq(second, 1); /* its node: the stream's own is taken */
    ck_assert_int_eq(pw_h2_submit_data(S, 1, NULL, 0, true), 0);
    tp_window_update(1, 1000);
    ck_assert_int_ge(tp_flush(), 0);
    buf out, data;
    size_t ref_bytes = first_send(&out, &data, b, 1 << 20);
    ck_assert_uint_eq(ref_bytes, 100);
    ck_assert_uint_eq(data_of(&out, 1, &data) & PW_H2_FLAG_END_STREAM, PW_H2_FLAG_END_STREAM);
    ck_assert_uint_eq(buf_size(&data), 300);
    ck_assert_mem_eq(buf_begin(&data), b->data, 100);
    ck_assert_mem_eq(buf_begin(&data) + 100, b2->data, 200);
    ck_assert_uint_eq(b->refs, 1);
    ck_assert_uint_eq(b2->refs, 1);
    rt_blob_unref(b);
    rt_blob_unref(b2);
    bufs_deinit(&out, &data);
}
END_TEST

/* One exchange with every allocation armed: a copied piece, a reference, a copied piece behind
 * it, then the chain taken and sent. Returns the allocations it made. */
static uint64_t ref_exchange(uint64_t fail_nth)
{
    rt_alloc_test_start(fail_nth); /* from here every block is counted, to see what leaks */
    rt_alloc_test_arm(0);
    pw_h2_config cfg;
    pw_h2_config_default(&cfg);
    cfg.output_refs = true;
    tp_start_server(&cfg);
    respond(1);
    rt_blob *b = pattern_blob(PAYLOAD_BYTES, 4);
    rt_alloc_test_arm(1);
    int rc = pw_h2_submit_data_ref(S, 1, (const uint8_t *)"head", 4, b, b->data, b->len);
    ck_assert(rc == 0 || rc == -ENOMEM || rc == -ENOENT);
    ssize_t r = pw_h2_submit_data(S, 1, (const uint8_t *)"tail", 4, true);
    ck_assert(r == 4 || r == -ENOMEM || r == -ENOENT || r == -EPIPE);
    buf out;
    buf_init(&out, 1 << 20);
    size_t ref_bytes = 0;
    rt_alloc_test_arm(0); /* the test's own buffer is not the session's */
    ck_assert_int_eq(buf_reserve(&out, 1 << 20, &(uint8_t *){0}), 0);
    rt_alloc_test_arm(1);
    take_and_send(&out, b, 5000, &ref_bytes);
    rt_alloc_test_arm(0);
    uint64_t n = rt_alloc_test_count();
    tp_stop();
    ck_assert_uint_eq(b->refs, 1); /* whatever failed, the session let go of the blob */
    rt_blob_unref(b);
    buf_deinit(&out);
    ck_assert_int_eq(rt_alloc_test_live(), 0); /* nothing the exchange allocated leaked */
    rt_alloc_test_stop();
    return n;
}

START_TEST(every_allocation_failing_in_turn)
{
    uint64_t total = ref_exchange(0);
    ck_assert_uint_gt(total, 0);
    for (uint64_t n = 1; n <= total; n++) ref_exchange(n);
}
END_TEST

static unsigned freed;
static uint64_t freed_copied;
static void on_free(rt_blob *b)
{
    freed++;
    freed_copied = b->copied_bytes;
    ck_assert_ptr_eq(b->ud, &freed);
}

START_TEST(blob_from_buf_takes_storage)
{
    buf b;
    buf_init(&b, 4096);
    ck_assert_ptr_null(rt_blob_from_buf(&b, NULL, NULL)); /* empty: nothing to take */
    ck_assert_int_eq(buf_append(&b, "xxabcdef", 8), 0);
    buf_consume(&b, 2);
    const uint8_t *where = buf_begin(&b);
    rt_blob *bl = rt_blob_from_buf(&b, on_free, &freed);
    ck_assert_ptr_eq(bl->data, where); /* the same bytes, not a copy */
    ck_assert_uint_eq(bl->len, 6);
    ck_assert_uint_eq(buf_size(&b), 0);
    ck_assert_int_eq(buf_append(&b, "again", 5), 0); /* the buf is reusable */
    rt_blob_ref(bl);
    bl->copied_bytes = 6;
    rt_blob_unref(bl);
    ck_assert_uint_eq(freed, 0);
    rt_blob_unref(bl);
    ck_assert_uint_eq(freed, 1);
    ck_assert_uint_eq(freed_copied, 6);
    rt_blob_unref(NULL);
    buf_deinit(&b);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("pw_h2_ref");
    TCase *tc = tcase_create("refs");
    tcase_add_checked_fixture(tc, start_refs, stop);
    tcase_add_test(tc, payload_goes_out_by_reference_in_order);
    tcase_add_test(tc, windows_split_references_and_resume);
    tcase_add_test(tc, reset_stream_releases_references);
    tcase_add_test(tc, chain_held_across_destroy_is_released);
    tcase_add_test(tc, submit_ref_errors);
    tcase_add_test(tc, one_referenced_piece_allocates_no_node);
    suite_add_tcase(su, tc);
    tc = tcase_create("copy");
    tcase_add_checked_fixture(tc, start_plain, stop);
    tcase_add_test(tc, without_output_refs_the_payload_is_copied_and_counted);
    suite_add_tcase(su, tc);
    tc = tcase_create("alloc");
    tcase_add_test(tc, every_allocation_failing_in_turn);
    suite_add_tcase(su, tc);
    tc = tcase_create("blob");
    tcase_add_test(tc, blob_from_buf_takes_storage);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
