/* client/rq_pub_stream.c (and the ordered stream under it, client/rq_ostream.c): the client's
 * per-request costs of a PublishStream producer, against the fake gRPC server of test_rq_fx.h.
 * The requests are decoded with the generated schema and checked, the answers are built the
 * same way. Counted with the counting allocator (core/rt_alloc), armed only while the client
 * runs (its sends and its polls), never while the fake server does: a counter, not a clock. */
#include "test_rq_fx.h"

#include "client/rq_pb_fast.h"
#include "core/rt_alloc.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"

#define NREQ 16 /* requests counted, after the warm-up */

typedef struct answers {
    int n, failed;
    uint64_t last_id, last_seq;
} answers;

static void on_answer(rq_pub_stream *s, void *ud, uint64_t request_id, const rq_status *st,
                      const char *stream, const rq_pub_ack *acks, size_t n)
{
    answers *a = ud;
    a->n++;
    if (st->code || n != 1 || !acks || strcmp(stream, "orders") != 0 || st->message[0]) a->failed++;
    /* each field of the ack as answer() wrote it (the answer is read in place: rq_pub_stream.c) */
    else if (acks[0].seq != 100 + request_id || acks[0].duplicate ||
             acks[0].receipt.partition != 3 || acks[0].receipt.offset != 4096 * request_id ||
             acks[0].receipt.commit_seq != request_id || acks[0].receipt.level != 2)
        a->failed++;
    a->last_id = request_id;
    if (acks && n) a->last_seq = acks[0].seq;
}

/* The gRPC messages of the request body from byte *off on, each checked as a PublishStreamRequest
 * of one message; returns how many, *off past them. */
static int take_requests(fs_stream *st, size_t *off, uint64_t *next_id)
{
    int k = 0;
    for (;;) {
        const uint8_t *p = buf_begin(&st->body) + *off;
        size_t left = buf_size(&st->body) - *off;
        if (left < 5) return k;
        size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (left < 5 + n) return k;
        pwm_ringq_v1_PublishStreamRequest r;
        pw_msg_arena a;
        pw_msg_arena_init_heap(&a, 4096, 1 << 20);
        ck_assert_int_eq(pw_msg_decode(&pwm_ringq_v1_PublishStreamRequest_desc, &r, p + 5, n, &a),
                         0);
        ck_assert_uint_eq(r.request_id, *next_id);
        ck_assert_ptr_nonnull(r.publish);
        ck_assert_uint_eq(r.publish->messages_count, 1);
        ck_assert_uint_eq(r.publish->messages[0].payload.len, 100);
        pw_msg_arena_deinit(&a);
        (*next_id)++;
        *off += 5 + n;
        k++;
    }
}

/* Answers request `id` as ringqd does: OK, the stream's name, one ack with a receipt. */
static void answer(fs_conn *k, uint32_t sid, bool first, uint64_t id)
{
    if (first) {
        pw_h2_header h[2] = {PW_H2_HDR(":status", "200"),
                             PW_H2_HDR("content-type", "application/grpc")};
        ck_assert_int_eq(pw_h2_submit_headers(k->s, sid, h, 2, false), 0);
    }
    pwm_ringq_v1_Receipt rc = {.partition = 3, .offset = 4096 * id, .commit_seq = id, .level = 2};
    pwm_ringq_v1_PublishAck ack = {.seq = 100 + id, .receipt = &rc};
    pwm_ringq_v1_PublishResponse pr = {
        .stream = {(const uint8_t *)"orders", 6}, .acks = &ack, .acks_count = 1};
    pwm_ringq_v1_PublishStreamResponse m = {.request_id = id, .publish = &pr, .credits = 1024};
    uint8_t b[512];
    long n = pw_msg_encode_to(&pwm_ringq_v1_PublishStreamResponse_desc, &m, b + 5, sizeof b - 5);
    ck_assert_int_gt(n, 0);
    b[0] = 0;
    b[1] = (uint8_t)(n >> 24);
    b[2] = (uint8_t)(n >> 16);
    b[3] = (uint8_t)(n >> 8);
    b[4] = (uint8_t)n;
    ck_assert_int_eq(pw_h2_submit_data(k->s, sid, b, (size_t)n + 5, false), n + 5);
    fs_flush(k);
}

/* One client turn with the counting allocator armed, then the fake server's turn unarmed. */
static void turn(void)
{
    rt_alloc_test_arm(1);
    rq_client_poll(C, 1);
    rt_alloc_test_arm(0);
    fs_pump();
}

#define TURN_UNTIL(cond)                                       \
    do {                                                       \
        for (int t_ = 0; t_ < 5000 && !(cond); t_++) turn();   \
        ck_assert_msg((cond), "timed out waiting for " #cond); \
    } while (0)

/* Sends request number `i` (one 100-byte message), armed. */
static void send_one(rq_pub_stream *ps, uint64_t want_id)
{
    static const char payload[100] = {0};
    rq_pub_msg m = {.subject = "orders.new", .payload = payload, .payload_len = sizeof payload};
    uint64_t id = 0;
    rq_status st;
    rt_alloc_test_arm(1);
    int rc = rq_pub_stream_send(ps, &m, 1, &id, &st);
    rt_alloc_test_arm(0);
    ck_assert_msg(rc == 0, "%s", st.message);
    ck_assert_uint_eq(id, want_id);
}

/* A producer's steady state: a batch-1 request sent and its answer (OK, one ack with a
 * receipt) delivered, NREQ times. The request's encoding (a buffer of its own per request) and
 * the answer's decode (a heap arena per answer) made two allocations per round trip, besides
 * the message views (a calloc the counting allocator does not see); the request buffer is now
 * the stream's own, reused, and the answer decodes on the stack. The one left per round trip
 * is the transport's: the HTTP/2 session's output buffer, taken again once emptied (proto_wire). */
START_TEST(pub_stream_round_trip_allocates_only_the_transport_buffer)
{
    client_up(5000);
    answers got = {0};
    rq_status st;
    rq_pub_stream *ps = rq_pub_stream_open(C, RQ_DURABILITY_DEFAULT, on_answer, &got, &st);
    ck_assert_msg(ps != NULL, "%s", st.message);
    SPIN_UNTIL(fs_n == 1 && fs_c[0].nst == 1);
    fs_conn *k = &fs_c[0];
    fs_stream *fst = &k->st[0];
    ck_assert_str_eq(fst->path, "/ringq.v1.Streams/PublishStream");
    size_t off = 0;
    uint64_t next_id = 1;
    /* warm-up: the connection's and the stream's buffers reach their size */
    for (uint64_t id = 1; id <= 4; id++) {
        send_one(ps, id);
        SPIN_UNTIL(take_requests(fst, &off, &next_id) == 1 || next_id > id);
        answer(k, fst->id, id == 1, id);
        SPIN_UNTIL(got.n == (int)id);
    }
    rt_alloc_test_start(0);
    rt_alloc_test_arm(0);
    for (uint64_t id = 5; id < 5 + NREQ; id++) {
        send_one(ps, id);
        TURN_UNTIL(take_requests(fst, &off, &next_id) == 1 || next_id > id);
        answer(k, fst->id, false, id);
        TURN_UNTIL(got.n == (int)id);
    }
    uint64_t allocs = rt_alloc_test_count();
    rt_alloc_test_stop();
    ck_assert_int_eq(got.failed, 0);
    ck_assert_uint_eq(got.last_id, 4 + NREQ);
    ck_assert_uint_eq(got.last_seq, 100 + 4 + NREQ);
    ck_assert_msg(allocs <= NREQ,
                  "%d PublishStream round trips made %llu allocations on the client", NREQ,
                  (unsigned long long)allocs);
    rq_pub_stream_free(ps);
    client_down();
}
END_TEST

/* ---- answers at the edges of the in-place read ---- */

typedef struct seen {
    int n;
    rq_status st;
    rq_pub_ack ack;
    char stream[RQ_STREAM_NAME_MAX];
} seen;

static void on_seen(rq_pub_stream *s, void *ud, uint64_t request_id, const rq_status *st,
                    const char *stream, const rq_pub_ack *acks, size_t n)
{
    seen *a = ud;
    a->n++;
    a->st = *st;
    a->ack = (rq_pub_ack){0};
    a->stream[0] = 0;
    if (st->code == 0 && n == 1 && acks) a->ack = acks[0];
    if (stream) snprintf(a->stream, sizeof a->stream, "%s", stream);
}

/* Answers request id with m (its request_id set here), then `extra` raw bytes appended to the
 * message (an unknown field, read by the generic decode only). */
static void answer_msg(fs_conn *k, uint32_t sid, bool first, uint64_t id,
                       pwm_ringq_v1_PublishStreamResponse *m, const uint8_t *extra, size_t nextra)
{
    if (first) {
        pw_h2_header h[2] = {PW_H2_HDR(":status", "200"),
                             PW_H2_HDR("content-type", "application/grpc")};
        ck_assert_int_eq(pw_h2_submit_headers(k->s, sid, h, 2, false), 0);
    }
    m->request_id = id;
    uint8_t b[512];
    long n = pw_msg_encode_to(&pwm_ringq_v1_PublishStreamResponse_desc, m, b + 5, sizeof b - 64);
    ck_assert_int_gt(n, 0);
    memcpy(b + 5 + n, extra, nextra);
    n += (long)nextra;
    b[0] = 0;
    b[1] = (uint8_t)(n >> 24);
    b[2] = (uint8_t)(n >> 16);
    b[3] = (uint8_t)(n >> 8);
    b[4] = (uint8_t)n;
    ck_assert_int_eq(pw_h2_submit_data(k->s, sid, b, (size_t)n + 5, false), n + 5);
    fs_flush(k);
}

/* Every field of an answer reaches the caller the same whether it is read in place or by the
 * generic decode: 9-byte varints (the in-place read's largest), a 10-byte one (a negative
 * level: left to the generic decode), an unknown field after the usual ones, and a status. */
START_TEST(pub_stream_answer_edges_read_as_written)
{
    client_up(5000);
    seen got = {0};
    rq_status st;
    rq_pub_stream *ps = rq_pub_stream_open(C, RQ_DURABILITY_DEFAULT, on_seen, &got, &st);
    ck_assert_msg(ps != NULL, "%s", st.message);
    SPIN_UNTIL(fs_n == 1 && fs_c[0].nst == 1);
    fs_conn *k = &fs_c[0];
    fs_stream *fst = &k->st[0];
    size_t off = 0;
    uint64_t next_id = 1;
    static const struct {
        uint64_t seq, offset, commit_seq;
        uint32_t partition;
        int32_t level;
        bool dup, unknown, status;
    } cases[] = {
        {(1ull << 63) - 1, 1ull << 62, (1ull << 56) + 1, 0x7fffffffu, 2, true, false, false},
        {1ull << 63, 5, 6, 7, 1, false, false, false}, /* 10-byte seq */
        {9, 10, 11, 12, -1, false, false, false},      /* 10-byte level */
        {300, 1ull << 40, 2, 1, 2, false, true, false},
        {0, 0, 0, 0, 0, false, false, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t id = i + 1;
        send_one(ps, id);
        SPIN_UNTIL(take_requests(fst, &off, &next_id) == 1 || next_id > id);
        pwm_ringq_v1_Receipt rc = {.partition = cases[i].partition,
                                   .offset = cases[i].offset,
                                   .commit_seq = cases[i].commit_seq,
                                   .level = cases[i].level};
        pwm_ringq_v1_PublishAck ack = {
            .seq = cases[i].seq, .duplicate = cases[i].dup, .receipt = &rc};
        pwm_ringq_v1_PublishResponse pr = {
            .stream = {(const uint8_t *)"orders", 6}, .acks = &ack, .acks_count = 1};
        pwm_ringq_v1_PublishStreamResponse m = {.publish = &pr, .credits = 1024};
        if (cases[i].status)
            m = (pwm_ringq_v1_PublishStreamResponse){
                .code = 9, .message = {(const uint8_t *)"wrong stream", 12}, .credits = 1024};
        static const uint8_t unknown[] = {15 << 3, 0x80, 0x01}; /* field 15, varint 128 */
        answer_msg(k, fst->id, id == 1, id, &m, unknown, cases[i].unknown ? sizeof unknown : 0);
        SPIN_UNTIL(got.n == (int)id);
        if (cases[i].status) {
            ck_assert_int_eq(got.st.code, 9);
            ck_assert_str_eq(got.st.message, "wrong stream");
            continue;
        }
        ck_assert_msg(got.st.code == 0, "case %zu: %s", i, got.st.message);
        ck_assert_str_eq(got.stream, "orders");
        ck_assert_uint_eq(got.ack.seq, cases[i].seq);
        ck_assert_int_eq(got.ack.duplicate, cases[i].dup);
        ck_assert_uint_eq(got.ack.receipt.partition, cases[i].partition);
        ck_assert_uint_eq(got.ack.receipt.offset, cases[i].offset);
        ck_assert_uint_eq(got.ack.receipt.commit_seq, cases[i].commit_seq);
        ck_assert_int_eq((int)got.ack.receipt.level, cases[i].level);
    }
    rq_pub_stream_free(ps);
    client_down();
}
END_TEST

/* Walks `len` bytes with the in-place reader (client/rq_pb_fast.h) and the generic one
 * (pw_pb_next) side by side: every field the in-place reader accepts, the generic one reads the
 * same (number, wire type, value, bytes) and stops at the same byte; where it says "end", so
 * does the generic one. Where it refuses (-1) the answer goes to the generic decode, nothing to
 * compare. LEN fields are walked again inside (acks, receipts), `depth` levels down. Returns
 * the fields the in-place reader accepted. */
static int fast_vs_generic(const uint8_t *b, size_t len, int depth)
{
    const uint8_t *p = b, *end = b + len;
    pw_pb_reader r;
    pw_pb_reader_init(&r, b, len);
    int accepted = 0;
    for (;;) {
        pw_pb_field ff, gf;
        int frc = rq_pb_fast_field(&p, end, &ff);
        if (frc < 0) return accepted;
        int grc = pw_pb_next(&r, &gf);
        ck_assert_int_eq(grc, frc);
        if (frc == 0) return accepted;
        ck_assert_uint_eq(ff.num, gf.num);
        ck_assert_int_eq((int)ff.wt, (int)gf.wt);
        ck_assert_uint_eq(ff.u64, gf.u64);
        ck_assert_uint_eq(ff.bytes.len, gf.bytes.len);
        ck_assert_ptr_eq(ff.bytes.ptr, gf.bytes.ptr);
        ck_assert_ptr_eq(p, r.p);
        accepted++;
        if (ff.wt == PW_PB_WT_LEN && depth > 0)
            accepted += fast_vs_generic(ff.bytes.ptr, ff.bytes.len, depth - 1);
    }
}

/* The in-place reader against the generic one on mutated answers: the usual answer (multi-byte
 * varints at every level), then each of its truncations and each byte replaced by values that
 * make a truncated varint, a length past the end, wire types 1 (I64) and 5 (I32), a group, a
 * two-byte tag or a 10th varint byte; and hand-made answers with a 10-byte varint. */
START_TEST(pub_stream_fast_reader_agrees_with_generic_on_mutations)
{
    pwm_ringq_v1_Receipt rc = {
        .partition = 300, .offset = 1ull << 40, .commit_seq = (1ull << 56) + 1, .level = 2};
    pwm_ringq_v1_PublishAck ack = {.seq = 1ull << 35, .duplicate = true, .receipt = &rc};
    pwm_ringq_v1_PublishResponse pr = {
        .stream = {(const uint8_t *)"orders", 6}, .acks = &ack, .acks_count = 1};
    pwm_ringq_v1_PublishStreamResponse m = {.request_id = 70000, .publish = &pr, .credits = 1024};
    uint8_t base[256];
    long n = pw_msg_encode_to(&pwm_ringq_v1_PublishStreamResponse_desc, &m, base, sizeof base);
    ck_assert_int_gt(n, 8);
    ck_assert_int_gt(fast_vs_generic(base, (size_t)n, 3), 8); /* the usual answer: all fields */
    static const uint8_t repl[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x09, 0x0d, 0x0b,
                                   0x0a, 0x12, 0x3f, 0x81, 0x40, 0x02, 0x0c, 0x10};
    uint8_t mut[256];
    int total = 0;
    for (size_t cut = 0; cut <= (size_t)n; cut++) { /* every truncation */
        memcpy(mut, base, cut);
        total += fast_vs_generic(mut, cut, 3);
    }
    for (size_t i = 0; i < (size_t)n; i++) /* every byte, each replacement */
        for (size_t j = 0; j < sizeof repl; j++) {
            memcpy(mut, base, (size_t)n);
            mut[i] = repl[j];
            total += fast_vs_generic(mut, (size_t)n, 3);
        }
    static const uint8_t hand[][14] = {
        /* request id: a 10-byte varint (the in-place read refuses past 9) */
        {0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x18, 0x01},
        /* a 9-byte varint, then field 1 as I64 and field 2 as I32 */
        {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x09, 1, 2, 3},
        {0x18, 0x05, 0x15, 1, 2, 3, 4},
        /* a length past the end, a truncated varint */
        {0x12, 0x7f, 0x0a},
        {0x18, 0x80, 0x80},
    };
    for (size_t i = 0; i < sizeof hand / sizeof hand[0]; i++)
        for (size_t cut = 0; cut <= sizeof hand[i]; cut++)
            total += fast_vs_generic(hand[i], cut, 3);
    ck_assert_int_gt(total, 1000); /* most mutations still leave fields to compare */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rq_pub_stream");
    TCase *tc = tcase_create("costs");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, pub_stream_round_trip_allocates_only_the_transport_buffer);
    tcase_add_test(tc, pub_stream_answer_edges_read_as_written);
    tcase_add_test(tc, pub_stream_fast_reader_agrees_with_generic_on_mutations);
    suite_add_tcase(s, tc);
    return fs_run_suite(s);
}
