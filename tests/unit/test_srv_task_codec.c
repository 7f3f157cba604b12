/* The hand-written encoders of server/srv_queue_codec.c against the generic codec, byte for byte
 * over random messages (zero fields, every varint length, empty and long strings):
 * srv_encode_task, SRV_TASK_WORK_FRAMED (a task without headers is encoded by hand, one with
 * headers through the generated codec; both as the generic codec writes the same
 * pwm_ringq_v1_Task in a WorkResponse behind its gRPC prefix, and decoded back field by field),
 * srv_encode_estream_resp (EnqueueStreamResponse), srv_encode_ack_resp (AckResponse) and
 * srv_encode_work_result (WorkResult). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_grpc_msg.h"
#include "proto_wire/pw_msg.h"
#include "server/srv_queue_int.h"
#include "ts_main.h"

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint64_t rnd(void) { return ts_xorshift64(&rng); }

/* 0, a value of a random bit length (every varint length 1..10), or the largest. */
static uint64_t rnd_value(uint64_t max)
{
    switch (rnd() % 4) {
    case 0: return 0;
    case 1: return max;
    default: {
        unsigned bits = (unsigned)(rnd() % 64) + 1;
        uint64_t v = bits == 64 ? rnd() : rnd() & ((1ull << bits) - 1);
        return v > max ? max : v;
    }
    }
}

static pw_pb_bytes view(const void *p, size_t n) { return (pw_pb_bytes){(const uint8_t *)p, n}; }

/* What the generic codec writes for task t: the reference. */
static void encode_generic(buf *out, uint32_t part_no, const char *queue, size_t queue_len,
                           const q_leased *t, const pwm_ringq_v1_Task_HeadersEntry *hs, size_t nh)
{
    char id[Q_ID_STR_BYTES];
    size_t idl = q_id_format(id, part_no, t->id);
    pwm_ringq_v1_Task m = {
        .id = view(id, idl),
        .queue = view(queue, queue_len),
        .payload = view(t->payload, t->payload_len),
        .headers = hs,
        .headers_count = nh,
        .priority = t->priority,
        .attempt = t->attempt,
        .lease_deadline_unix_ms = t->lease_deadline_ms,
        .enqueued_unix_ms = t->enqueued_ms,
        .max_attempts = t->max_attempts,
        .lease_token = t->token,
    };
    pwm_ringq_v1_WorkResponse wr = {.kind_case = pwm_ringq_v1_WorkResponse_FIELD_task, .task = &m};
    size_t body = 0;
    ck_assert_int_eq(pw_msg_encode_headed(&pwm_ringq_v1_WorkResponse_desc, &wr,
                                          PW_GRPC_MSG_PREFIX_BYTES, out, &body),
                     0);
    pw_grpc_msg_put_prefix((uint8_t *)buf_begin(out) + buf_size(out) - body -
                               PW_GRPC_MSG_PREFIX_BYTES,
                           false, (uint32_t)body);
}

/* The fast bytes decode back to t's fields. */
static void expect_decodes_to(const uint8_t *msg, size_t len, uint32_t part_no, const char *queue,
                              size_t queue_len, const q_leased *t)
{
    pwm_ringq_v1_WorkResponse wr;
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1u << 20);
    ck_assert_int_ge(pw_msg_decode(&pwm_ringq_v1_WorkResponse_desc, &wr,
                                   msg + PW_GRPC_MSG_PREFIX_BYTES, len - PW_GRPC_MSG_PREFIX_BYTES,
                                   &a),
                     0);
    ck_assert_uint_eq(wr.kind_case, pwm_ringq_v1_WorkResponse_FIELD_task);
    const pwm_ringq_v1_Task *m = wr.task;
    char id[Q_ID_STR_BYTES];
    size_t idl = q_id_format(id, part_no, t->id);
    ck_assert_uint_eq(m->id.len, idl);
    ck_assert_mem_eq(m->id.ptr, id, idl);
    ck_assert_uint_eq(m->queue.len, queue_len);
    if (queue_len) ck_assert_mem_eq(m->queue.ptr, queue, queue_len);
    ck_assert_uint_eq(m->payload.len, t->payload_len);
    if (t->payload_len) ck_assert_mem_eq(m->payload.ptr, t->payload, t->payload_len);
    ck_assert_uint_eq(m->headers_count, 0);
    ck_assert_uint_eq(m->priority, t->priority);
    ck_assert_uint_eq(m->attempt, t->attempt);
    ck_assert_uint_eq(m->lease_deadline_unix_ms, t->lease_deadline_ms);
    ck_assert_uint_eq(m->enqueued_unix_ms, t->enqueued_ms);
    ck_assert_uint_eq(m->max_attempts, t->max_attempts);
    ck_assert_uint_eq(m->lease_token, t->token);
    pw_msg_arena_deinit(&a);
}

START_TEST(work_task_bytes_match_generic_codec)
{
    static uint8_t payload[70000];
    static const char queue[] = "orders.eu-west_1-abcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)rnd();
    buf fast, ref;
    buf_init(&fast, 1u << 20);
    buf_init(&ref, 1u << 20);
    for (int round = 0; round < 20000; round++) {
        static const uint32_t plens[] = {0, 1, 100, 127, 128, 16383, 16384, 70000};
        q_leased t = {
            .id = rnd_value(INT64_MAX),
            .payload = payload,
            .payload_len = round % 3 ? (uint32_t)(rnd() % 300) : plens[rnd() % 8],
            .priority = (uint32_t)rnd_value(UINT32_MAX),
            .attempt = (uint32_t)rnd_value(UINT32_MAX),
            .max_attempts = (uint32_t)rnd_value(UINT32_MAX),
            .lease_deadline_ms = rnd_value(UINT64_MAX),
            .enqueued_ms = rnd_value(UINT64_MAX),
            .token = rnd_value(UINT64_MAX),
        };
        uint32_t part_no = (uint32_t)(rnd() % 1024);
        size_t qlen = rnd() % (sizeof queue);
        buf_consume(&fast, buf_size(&fast));
        buf_consume(&ref, buf_size(&ref));
        ck_assert_int_eq(srv_encode_task(&fast, SRV_TASK_WORK_FRAMED, part_no, queue, qlen, &t), 0);
        encode_generic(&ref, part_no, queue, qlen, &t, NULL, 0);
        ck_assert_uint_eq(buf_size(&fast), buf_size(&ref));
        ck_assert_mem_eq(buf_begin(&fast), buf_begin(&ref), buf_size(&ref));
        if (round % 16 == 0)
            expect_decodes_to(buf_begin(&fast), buf_size(&fast), part_no, queue, qlen, &t);
    }
    buf_deinit(&fast);
    buf_deinit(&ref);
}
END_TEST

/* A task with headers goes the generic way: the same bytes, headers included. */
START_TEST(work_task_with_headers_matches_generic_codec)
{
    /* Packed as a record holds them: u16 name length, u32 value length (little endian), name,
     * value; checked through q_hdr_next below. */
    static const uint8_t packed[] = {2, 0, 2, 0, 0,   0,   'k', '1', 'v', '1', 5,   0,
                                     3, 0, 0, 0, 't', 'r', 'a', 'c', 'e', 'a', 'b', 'c'};
    const size_t n = sizeof packed;
    q_hdr_iter it;
    q_header h;
    q_hdr_iter_init(&it, packed, (uint32_t)n);
    ck_assert(q_hdr_next(&it, &h) && h.name_len == 2 && memcmp(h.value, "v1", 2) == 0);
    ck_assert(q_hdr_next(&it, &h) && h.name_len == 5 && memcmp(h.value, "abc", 3) == 0);
    ck_assert(!q_hdr_next(&it, &h));
    static const uint8_t payload[] = "hello";
    q_leased t = {.id = 77,
                  .payload = payload,
                  .payload_len = 5,
                  .headers = packed,
                  .headers_len = (uint32_t)n,
                  .nheaders = 2,
                  .attempt = 1,
                  .max_attempts = 5,
                  .lease_deadline_ms = 1765000000123ull,
                  .enqueued_ms = 1765000000000ull,
                  .token = 0xfedcba9876543210ull};
    pwm_ringq_v1_Task_HeadersEntry hs[2] = {{view("k1", 2), view("v1", 2)},
                                            {view("trace", 5), view("abc", 3)}};
    buf fast, ref;
    buf_init(&fast, 1u << 16);
    buf_init(&ref, 1u << 16);
    ck_assert_int_eq(srv_encode_task(&fast, SRV_TASK_WORK_FRAMED, 3, "q", 1, &t), 0);
    encode_generic(&ref, 3, "q", 1, &t, hs, 2);
    ck_assert_uint_eq(buf_size(&fast), buf_size(&ref));
    ck_assert_mem_eq(buf_begin(&fast), buf_begin(&ref), buf_size(&ref));
    buf_deinit(&fast);
    buf_deinit(&ref);
}
END_TEST

/* srv_encode_estream_resp gives pw_msg_encode's bytes for any EnqueueStreamResponse: head
 * fields zero or not, 0..40 results, a result without a receipt, a duplicate, a negative level
 * (an enum: ten bytes on the wire), ids and messages of every length class. */
START_TEST(estream_resp_bytes_match_generic_codec)
{
    static char text[300];
    for (size_t i = 0; i < sizeof text; i++) text[i] = (char)('a' + rnd() % 26);
    pwm_ringq_v1_Receipt rc[40];
    pwm_ringq_v1_EnqueueResult res[40];
    buf fast, ref;
    buf_init(&fast, 1u << 16);
    buf_init(&ref, 1u << 16);
    for (int round = 0; round < 20000; round++) {
        size_t n = round % 50 ? rnd() % 7 : rnd() % 41; /* past the 16 sizes kept, too */
        for (size_t i = 0; i < n; i++) {
            rc[i] = (pwm_ringq_v1_Receipt){(uint32_t)rnd_value(UINT32_MAX), rnd_value(UINT64_MAX),
                                           rnd_value(UINT64_MAX),
                                           (int32_t)(rnd() % 5) - (int32_t)(rnd() % 2 ? 0 : 3)};
            res[i] = (pwm_ringq_v1_EnqueueResult){view(text, rnd() % 200), rnd() % 2 == 0,
                                                  rnd() % 5 ? &rc[i] : NULL};
        }
        pwm_ringq_v1_EnqueueStreamResponse m = {
            .request_id = rnd_value(UINT64_MAX),
            .code = (uint32_t)rnd_value(UINT32_MAX),
            .message = view(text, rnd() % 3 ? 0 : rnd() % sizeof text),
            .results = n ? res : NULL,
            .results_count = n,
            .credits = (uint32_t)rnd_value(UINT32_MAX),
        };
        buf_consume(&fast, buf_size(&fast));
        buf_consume(&ref, buf_size(&ref));
        ck_assert_int_eq(srv_encode_estream_resp(&fast, &m), 0);
        ck_assert_int_eq(pw_msg_encode(&pwm_ringq_v1_EnqueueStreamResponse_desc, &m, &ref), 0);
        ck_assert_uint_eq(buf_size(&fast), buf_size(&ref));
        ck_assert_mem_eq(buf_begin(&fast), buf_begin(&ref), buf_size(&ref));
    }
    buf_deinit(&fast);
    buf_deinit(&ref);
}
END_TEST

/* srv_encode_ack_resp and srv_encode_work_result (no response set: by hand; one set: the
 * generic way) give pw_msg_encode's bytes. */
START_TEST(ack_resp_and_work_result_match_generic_codec)
{
    static char text[300];
    for (size_t i = 0; i < sizeof text; i++) text[i] = (char)('A' + rnd() % 26);
    pwm_ringq_v1_ItemStatus items[40];
    buf fast, ref;
    buf_init(&fast, 1u << 16);
    buf_init(&ref, 1u << 16);
    for (int round = 0; round < 20000; round++) {
        size_t n = round % 50 ? rnd() % 4 : rnd() % 41;
        for (size_t i = 0; i < n; i++)
            items[i] = (pwm_ringq_v1_ItemStatus){view(text, rnd() % 40),
                                                 (uint32_t)rnd_value(UINT32_MAX),
                                                 view(text + 7, rnd() % 3 ? 0 : rnd() % 200)};
        pwm_ringq_v1_AckResponse ack = {.results = n ? items : NULL, .results_count = n};
        buf_consume(&fast, buf_size(&fast));
        buf_consume(&ref, buf_size(&ref));
        ck_assert_int_eq(srv_encode_ack_resp(&fast, &ack), 0);
        ck_assert_int_eq(pw_msg_encode(&pwm_ringq_v1_AckResponse_desc, &ack, &ref), 0);
        ck_assert_uint_eq(buf_size(&fast), buf_size(&ref));
        ck_assert_mem_eq(buf_begin(&fast), buf_begin(&ref), buf_size(&ref));

        pwm_ringq_v1_WorkResult res = {
            .request_id = rnd_value(UINT64_MAX),
            .code = (uint32_t)rnd_value(UINT32_MAX),
            .message = view(text, rnd() % 3 ? 0 : rnd() % sizeof text),
        };
        if (rnd() % 4 == 0) {
            res.response_case = pwm_ringq_v1_WorkResult_FIELD_ack;
            res.ack = &ack;
        }
        buf_consume(&fast, buf_size(&fast));
        buf_consume(&ref, buf_size(&ref));
        ck_assert_int_eq(srv_encode_work_result(&fast, &res), 0);
        ck_assert_int_eq(pw_msg_encode(&pwm_ringq_v1_WorkResult_desc, &res, &ref), 0);
        ck_assert_uint_eq(buf_size(&fast), buf_size(&ref));
        ck_assert_mem_eq(buf_begin(&fast), buf_begin(&ref), buf_size(&ref));
    }
    buf_deinit(&fast);
    buf_deinit(&ref);
}
END_TEST

/* The hand encoders (server/srv_queue_codec.c) write every field these messages have today: a
 * field added to proto/ would be sent by the generic codec and dropped by the hand path while
 * the tests above (which fill the fields they know) still pass. This fails first: extend the
 * encoder, its test, then the count. */
START_TEST(hand_encoded_messages_have_the_fields_the_encoders_write)
{
    static const struct {
        const pw_msg_desc *d;
        size_t nfields;
    } known[] = {
        {&pwm_ringq_v1_Task_desc, 10},         {&pwm_ringq_v1_EnqueueStreamResponse_desc, 5},
        {&pwm_ringq_v1_EnqueueResult_desc, 3}, {&pwm_ringq_v1_Receipt_desc, 4},
        {&pwm_ringq_v1_AckResponse_desc, 1},   {&pwm_ringq_v1_ItemStatus_desc, 3},
        {&pwm_ringq_v1_WorkResult_desc, 6},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ck_assert_msg(known[i].d->nfields == known[i].nfields,
                      "%s has %zu fields, encoder knows %zu", known[i].d->full_name,
                      known[i].d->nfields, known[i].nfields);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("srv_task_codec");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, work_task_bytes_match_generic_codec);
    tcase_add_test(tc, work_task_with_headers_matches_generic_codec);
    tcase_add_test(tc, estream_resp_bytes_match_generic_codec);
    tcase_add_test(tc, ack_resp_and_work_result_match_generic_codec);
    tcase_add_test(tc, hand_encoded_messages_have_the_fields_the_encoders_write);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ts_run_suite(suite()); }
