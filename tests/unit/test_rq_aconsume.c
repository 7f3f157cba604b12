/* libringq's asynchronous streams calls (client/rq_stream_aconsume.c, rq_publish_async in
 * client/rq_stream.c) against the fake gRPC server of test_rq_fx.h: the requests are decoded
 * with the generated schema and checked field by field, the answers are built the same way.
 *
 * rq_publish_async: one Publish per call, the acks passed back; a reply with the wrong number of
 *   acks is INTERNAL. rq_aconsume: the bind goes first with the credits; deliveries arrive as
 *   views; acks made in one loop iteration go as ONE Acks request with every ref, answered per
 *   item through on_acked with the caller's tags; credits are sent as asked; the server ending
 *   the stream is on_end, once; a refused bind is on_bound(NULL) then on_end. */
#include "test_rq_fx.h"

#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"

/* ---- the fake server's side ---- */

/* The n-th (from 0) gRPC message of a stream's request body, decoded as `d` into *msg over *a
 * (the caller deinits it). false when there are not that many messages. */
static bool req_msg(fs_stream *st, int nth, const pw_msg_desc *d, void *msg, pw_msg_arena *a)
{
    const uint8_t *p = buf_begin(&st->body);
    size_t left = buf_size(&st->body);
    for (int i = 0;; i++) {
        if (left < 5) return false;
        size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        ck_assert_uint_eq(p[0], 0); /* not compressed */
        if (left < 5 + n) return false;
        if (i == nth) {
            pw_msg_arena_init_heap(a, 4096, 1 << 20);
            ck_assert_int_eq(pw_msg_decode(d, msg, p + 5, n, a), 0);
            return true;
        }
        p += 5 + n;
        left -= 5 + n;
    }
}

static int req_count(fs_stream *st)
{
    const uint8_t *p = buf_begin(&st->body);
    size_t left = buf_size(&st->body);
    int k = 0;
    while (left >= 5) {
        size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (left < 5 + n) break;
        p += 5 + n;
        left -= 5 + n;
        k++;
    }
    return k;
}

/* Sends *msg as one message on stream sid (the response headers first when `first`). */
static void srv_send(fs_conn *k, uint32_t sid, bool first, const pw_msg_desc *d, const void *msg)
{
    if (first) {
        pw_h2_header h[2] = {PW_H2_HDR(":status", "200"),
                             PW_H2_HDR("content-type", "application/grpc")};
        ck_assert_int_eq(pw_h2_submit_headers(k->s, sid, h, 2, false), 0);
    }
    uint8_t b[4096];
    long n = pw_msg_encode_to(d, msg, b + 5, sizeof b - 5);
    ck_assert_int_ge(n, 0);
    b[0] = 0;
    b[1] = (uint8_t)(n >> 24);
    b[2] = (uint8_t)(n >> 16);
    b[3] = (uint8_t)(n >> 8);
    b[4] = (uint8_t)n;
    ck_assert_int_eq(pw_h2_submit_data(k->s, sid, b, (size_t)n + 5, false), n + 5);
    fs_flush(k);
}

/* Trailers with grpc-status `code`; a stream whose request side is still open is then reset
 * with NO_ERROR, as a gRPC server does (RFC 9113 §8.1) and ringqd's Consume. */
static void srv_end(fs_conn *k, uint32_t sid, const char *code)
{
    pw_h2_header t[1] = {{"grpc-status", 11, code, strlen(code), 0}};
    ck_assert_int_eq(pw_h2_submit_trailers(k->s, sid, t, 1), 0);
    fs_stream *st = fs_find(k, sid);
    if (st && !st->ended) ck_assert_int_eq(pw_h2_submit_rst(k->s, sid, 0), 0);
    fs_flush(k);
}

static pw_pb_bytes pstr(const char *s) { return (pw_pb_bytes){(const uint8_t *)s, strlen(s)}; }

static bool str_is(pw_pb_bytes v, const char *s)
{
    return v.len == strlen(s) && memcmp(v.ptr, s, v.len) == 0;
}

/* ---- publish ---- */

typedef struct pub_res {
    int done, code;
    size_t n;
    uint64_t seqs[4];
    bool acks_null;
} pub_res;

static void on_pub(rq_client *c, void *ud, const rq_status *st, const rq_pub_ack *acks, size_t n)
{
    pub_res *r = ud;
    r->done++;
    r->code = st->code;
    r->n = n;
    r->acks_null = acks == NULL;
    for (size_t i = 0; acks && i < n && i < 4; i++) r->seqs[i] = acks[i].seq;
}

/* Answers Publish stream `st` with `nacks` acks (seq 10, 11, ...). */
static void answer_publish(fs_conn *k, fs_stream *st, size_t nacks)
{
    pwm_ringq_v1_PublishAck acks[4];
    for (size_t i = 0; i < nacks; i++) acks[i] = (pwm_ringq_v1_PublishAck){.seq = 10 + i};
    pwm_ringq_v1_PublishResponse resp = {
        .stream = pstr("orders"), .acks = acks, .acks_count = nacks};
    srv_send(k, st->id, true, &pwm_ringq_v1_PublishResponse_desc, &resp);
    srv_end(k, st->id, "0");
}

START_TEST(publish_async_acks)
{
    client_up(5000);
    rq_pub_msg m[3] = {{.subject = "orders.a", .payload = "x", .payload_len = 1},
                       {.subject = "orders.b", .payload = "yy", .payload_len = 2},
                       {.subject = "orders.c", .payload = "", .payload_len = 0}};
    pub_res a = {0}, b = {0};
    ck_assert_int_eq(rq_publish_async(C, m, 3, RQ_DURABILITY_SYNCED, on_pub, &a), 0);
    ck_assert_int_eq(rq_publish_async(C, m, 2, RQ_DURABILITY_DEFAULT, on_pub, &b), 0);
    ck_assert_int_eq(a.done + b.done, 0); /* never from inside the starting call */
    SPIN_UNTIL(ended(0, 0) && ended(0, 1));
    fs_conn *k = &fs_c[0];
    ck_assert_str_eq(k->st[0].path, "/ringq.v1.Streams/Publish");
    pwm_ringq_v1_PublishRequest req;
    pw_msg_arena ar;
    ck_assert(req_msg(&k->st[0], 0, &pwm_ringq_v1_PublishRequest_desc, &req, &ar));
    ck_assert_uint_eq(req.messages_count, 3);
    ck_assert_int_eq(req.durability, RQ_DURABILITY_SYNCED);
    ck_assert(str_is(req.messages[1].subject, "orders.b"));
    ck_assert(str_is(req.messages[1].payload, "yy"));
    pw_msg_arena_deinit(&ar);
    answer_publish(k, &k->st[0], 3);
    answer_publish(k, &k->st[1], 1); /* 1 ack for 2 messages */
    SPIN_UNTIL(a.done && b.done);
    ck_assert_int_eq(a.code, 0);
    ck_assert_uint_eq(a.n, 3);
    ck_assert_uint_eq(a.seqs[0], 10);
    ck_assert_uint_eq(a.seqs[2], 12);
    ck_assert_int_eq(b.code, 13); /* INTERNAL */
    ck_assert(b.acks_null);
    ck_assert_int_eq(a.done + b.done, 2);
    client_down();
}
END_TEST

START_TEST(publish_async_bad_arguments)
{
    client_up(5000);
    rq_pub_msg m = {.subject = "", .payload = "x", .payload_len = 1};
    pub_res a = {0};
    ck_assert_int_eq(rq_publish_async(C, &m, 1, 0, on_pub, &a), -EINVAL);
    m.subject = "s";
    ck_assert_int_eq(rq_publish_async(C, &m, 0, 0, on_pub, &a), -EINVAL);
    ck_assert_int_eq(rq_publish_async(C, &m, RQ_PUBLISH_BATCH_MAX + 1, 0, on_pub, &a), -EINVAL);
    ck_assert_int_eq(rq_publish_async(C, &m, 1, 0, NULL, &a), -EINVAL);
    for (int i = 0; i < 20; i++) rq_client_poll(C, 1);
    ck_assert_int_eq(a.done, 0);
    client_down();
}
END_TEST

/* ---- the Consume session ---- */

typedef struct sess {
    int bound, bind_code, ended, end_code;
    bool ci_null;
    char name[RQ_STREAM_NAME_MAX];
    int ndel;
    uint64_t seqs[8], tokens[8];
    char payloads[8][16];
    int nacked;
    uint64_t acked_tags[8];
    int acked_codes[8];
} sess;

static void s_bound(rq_aconsume *s, void *ud, const rq_consumer_info *ci, const rq_status *st)
{
    sess *x = ud;
    x->bound++;
    x->bind_code = st->code;
    x->ci_null = ci == NULL;
    if (ci) snprintf(x->name, sizeof x->name, "%s", ci->config.name);
}

static void s_delivery(rq_aconsume *s, void *ud, const rq_delivery_view *d)
{
    sess *x = ud;
    ck_assert_int_lt(x->ndel, 8);
    x->seqs[x->ndel] = d->stream_seq;
    x->tokens[x->ndel] = d->token;
    snprintf(x->payloads[x->ndel], 16, "%.*s", (int)d->payload_len, (const char *)d->payload);
    x->ndel++;
}

static void s_acked(rq_aconsume *s, void *ud, uint64_t tag, int code, const char *message)
{
    sess *x = ud;
    ck_assert_int_lt(x->nacked, 8);
    x->acked_tags[x->nacked] = tag;
    x->acked_codes[x->nacked++] = code;
}

static void s_end(rq_aconsume *s, void *ud, const rq_status *st)
{
    sess *x = ud;
    x->ended++;
    x->end_code = st->code;
}

static const rq_aconsume_cbs scbs = {s_bound, s_delivery, s_acked, s_end};

static void send_result(fs_conn *k, uint32_t sid, bool first, pwm_ringq_v1_ConsumeResult *cr)
{
    pwm_ringq_v1_ConsumeResponse r = {.kind_case = pwm_ringq_v1_ConsumeResponse_FIELD_result,
                                      .result = cr};
    srv_send(k, sid, first, &pwm_ringq_v1_ConsumeResponse_desc, &r);
}

static void send_delivery(fs_conn *k, uint32_t sid, uint64_t seq, uint64_t token, const char *p)
{
    pwm_ringq_v1_StreamMessage m = {
        .stream = pstr("orders"), .subject = pstr("orders.a"), .seq = seq, .payload = pstr(p)};
    pwm_ringq_v1_Delivery d = {
        .message = &m, .consumer_seq = seq, .delivery_count = 1, .token = token};
    pwm_ringq_v1_ConsumeResponse r = {.kind_case = pwm_ringq_v1_ConsumeResponse_FIELD_delivery,
                                      .delivery = &d};
    srv_send(k, sid, false, &pwm_ringq_v1_ConsumeResponse_desc, &r);
}

START_TEST(consume_bind_deliver_ack_batch)
{
    client_up(5000);
    sess x = {0};
    rq_status st;
    rq_aconsume *s = rq_aconsume_open(C, "orders", "g1", 5, &scbs, &x, &st);
    ck_assert_msg(s != NULL, "%s", st.message);
    SPIN_UNTIL(fs_n == 1 && fs_c[0].nst == 1 && req_count(&fs_c[0].st[0]) == 1);
    fs_conn *k = &fs_c[0];
    fs_stream *cs = &k->st[0];
    ck_assert_str_eq(cs->path, "/ringq.v1.Streams/Consume");
    ck_assert(!cs->ended); /* a stream: the request side stays open */
    pwm_ringq_v1_ConsumeRequest req;
    pw_msg_arena ar;
    ck_assert(req_msg(cs, 0, &pwm_ringq_v1_ConsumeRequest_desc, &req, &ar));
    ck_assert_int_eq(req.kind_case, pwm_ringq_v1_ConsumeRequest_FIELD_bind);
    ck_assert(str_is(req.bind->stream, "orders") && str_is(req.bind->consumer, "g1"));
    ck_assert_uint_eq(req.bind->credits, 5);
    uint64_t bind_id = req.request_id;
    ck_assert_uint_ne(bind_id, 0);
    pw_msg_arena_deinit(&ar);
    ck_assert(!rq_aconsume_bound(s));

    pwm_ringq_v1_ConsumerConfig cc = {.name = pstr("g1")};
    pwm_ringq_v1_ConsumerInfo ci = {.stream = pstr("orders"), .config = &cc};
    pwm_ringq_v1_ConsumeResult bound = {.request_id = bind_id, .consumer = &ci};
    send_result(k, cs->id, true, &bound);
    send_delivery(k, cs->id, 7, 70, "m7");
    send_delivery(k, cs->id, 8, 80, "m8");
    send_delivery(k, cs->id, 9, 90, "m9");
    SPIN_UNTIL(x.ndel == 3);
    ck_assert_int_eq(x.bound, 1);
    ck_assert_int_eq(x.bind_code, 0);
    ck_assert_str_eq(x.name, "g1");
    ck_assert(rq_aconsume_bound(s));
    ck_assert_uint_eq(x.seqs[1], 8);
    ck_assert_uint_eq(x.tokens[2], 90);
    ck_assert_str_eq(x.payloads[0], "m7");

    /* Three acks and a credit in one iteration: the credit goes at once, the acks as one
     * request. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(rq_aconsume_ack(s, (rq_delivery_ref){x.seqs[i], x.tokens[i]}, 100 + i), 0);
    ck_assert_int_eq(rq_aconsume_credit(s, 3), 0);
    ck_assert_int_eq(rq_aconsume_credit(s, 0), -EINVAL);
    SPIN_UNTIL(req_count(cs) == 3);
    for (int i = 0; i < 30; i++) rq_client_poll(C, 1), fs_pump(); /* nothing more comes */
    ck_assert_int_eq(req_count(cs), 3);
    ck_assert(req_msg(cs, 1, &pwm_ringq_v1_ConsumeRequest_desc, &req, &ar));
    ck_assert_int_eq(req.kind_case, pwm_ringq_v1_ConsumeRequest_FIELD_credits);
    ck_assert_uint_eq(req.credits, 3);
    pw_msg_arena_deinit(&ar);
    ck_assert(req_msg(cs, 2, &pwm_ringq_v1_ConsumeRequest_desc, &req, &ar));
    ck_assert_int_eq(req.kind_case, pwm_ringq_v1_ConsumeRequest_FIELD_acks);
    ck_assert_int_eq(req.acks->kind, RQ_ACK_KIND_ACK);
    ck_assert_uint_eq(req.acks->refs_count, 3);
    ck_assert_uint_eq(req.acks->refs[0].stream_seq, 7);
    ck_assert_uint_eq(req.acks->refs[2].token, 90);
    uint64_t acks_id = req.request_id;
    ck_assert_uint_ne(acks_id, 0);
    ck_assert_uint_ne(acks_id, bind_id);
    pw_msg_arena_deinit(&ar);

    pwm_ringq_v1_ItemStatus items[3] = {{.id = pstr("7")},
                                        {.id = pstr("8"), .code = 5, .message = pstr("gone")},
                                        {.id = pstr("9")}};
    pwm_ringq_v1_ConsumeResult answered = {
        .request_id = acks_id, .results = items, .results_count = 3};
    send_result(k, cs->id, false, &answered);
    SPIN_UNTIL(x.nacked == 3);
    ck_assert_uint_eq(x.acked_tags[0], 100);
    ck_assert_uint_eq(x.acked_tags[2], 102);
    ck_assert_int_eq(x.acked_codes[0], 0);
    ck_assert_int_eq(x.acked_codes[1], 5);
    ck_assert_int_eq(x.acked_codes[2], 0);

    srv_end(k, cs->id, "14"); /* UNAVAILABLE */
    SPIN_UNTIL(x.ended);
    ck_assert_int_eq(x.end_code, 14);
    ck_assert(!rq_aconsume_bound(s));
    ck_assert_int_eq(rq_aconsume_ack(s, (rq_delivery_ref){7, 70}, 1), -EPIPE);
    ck_assert_int_eq(rq_aconsume_credit(s, 1), -EPIPE);
    for (int i = 0; i < 20; i++) rq_client_poll(C, 1), fs_pump();
    ck_assert_int_eq(x.ended, 1);
    rq_aconsume_close(s);
    client_down();
}
END_TEST

START_TEST(consume_bind_refused)
{
    client_up(5000);
    sess x = {0};
    rq_status st;
    rq_aconsume *s = rq_aconsume_open(C, "orders", "nope", 0, &scbs, &x, &st);
    ck_assert_ptr_nonnull(s);
    SPIN_UNTIL(fs_n == 1 && fs_c[0].nst == 1 && req_count(&fs_c[0].st[0]) == 1);
    fs_conn *k = &fs_c[0];
    pwm_ringq_v1_ConsumeRequest req;
    pw_msg_arena ar;
    ck_assert(req_msg(&k->st[0], 0, &pwm_ringq_v1_ConsumeRequest_desc, &req, &ar));
    pwm_ringq_v1_ConsumeResult no = {
        .request_id = req.request_id, .code = 5, .message = pstr("no consumer 'nope'")};
    pw_msg_arena_deinit(&ar);
    send_result(k, k->st[0].id, true, &no);
    SPIN_UNTIL(x.ended);
    ck_assert_int_eq(x.bound, 1);
    ck_assert_int_eq(x.bind_code, 5);
    ck_assert(x.ci_null);
    ck_assert_int_eq(x.end_code, 5);
    ck_assert(!rq_aconsume_bound(s));
    rq_aconsume_close(s);
    client_down();
}
END_TEST

START_TEST(consume_open_bad_arguments)
{
    client_up(5000);
    sess x = {0};
    rq_status st;
    ck_assert_ptr_null(rq_aconsume_open(C, "", "g", 0, &scbs, &x, &st));
    ck_assert_int_eq(st.code, RQ_EINVAL);
    ck_assert_ptr_null(rq_aconsume_open(C, "s", NULL, 0, &scbs, &x, &st));
    ck_assert_ptr_null(rq_aconsume_open(C, "s", "g", 10001, &scbs, &x, &st));
    ck_assert_ptr_null(rq_aconsume_open(C, "s", "g", 0, NULL, &x, &st));
    client_down();
}
END_TEST

static Suite *rq_suite(void)
{
    Suite *s = suite_create("rq_aconsume");
    TCase *tc = tcase_create("async streams");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, publish_async_acks);
    tcase_add_test(tc, publish_async_bad_arguments);
    tcase_add_test(tc, consume_bind_deliver_ack_batch);
    tcase_add_test(tc, consume_bind_refused);
    tcase_add_test(tc, consume_open_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fs_run_suite(rq_suite()); }
