/* server/srv_stream_cons, srv_stream_consume: the owner's and the origin's cost of settling a batch of stream acks (srv_cons_settle,
 * which AckMessages and a Consume stream's Acks requests share), counted in process
 * (server/srv_local, test_srv_util.h): two shards stepped by the test on its thread, the client
 * on shard 0, the stream's partition owned by shard 1, so the owner's side of an AckMessages
 * call runs alone and is counted with the counting allocator (core/rt_alloc) — a counter, not a
 * clock. The answer is checked too: one ItemStatus per ref, OK, its id the stream sequence in
 * decimal (streams.proto AckMessagesResponse). */
#include "queue/q_stream.h"
#include "test_srv_util.h"
#include "ts_main.h"

#define NSHARDS 2
#define NPARTS 4
#define BATCH 64 /* messages per publish, deliveries per fetch, refs per ack: the benchmark's */

static ts_server S;
static ts_client C;

static uint32_t call_ok(const char *path, const pw_msg_desc *d, const void *msg)
{
    uint32_t sid = ts_call_start(&C, path, d, msg);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    return sid;
}

/* A stream (and its only subject) named so that shard `owner` owns its partition, with the
 * durable consumer "g" (explicit acks). */
static void create_on(char *out, size_t cap, int owner)
{
    for (int i = 0;; i++) {
        snprintf(out, cap, "ack%d", i);
        if (srv_q_owner(q_part_of(out, strlen(out), srv_q.nparts)) == owner) break;
    }
    pw_pb_bytes subj = ts_str(out);
    pwm_ringq_v1_StreamConfig cfg = {.name = ts_str(out), .subjects = &subj, .subjects_count = 1};
    pwm_ringq_v1_CreateStreamRequest r = {.config = &cfg};
    call_ok(pwm_ringq_v1_Streams_CreateStream_PATH, &pwm_ringq_v1_CreateStreamRequest_desc, &r);
    pwm_ringq_v1_ConsumerConfig cc = {.name = ts_str("g")};
    pwm_ringq_v1_CreateConsumerRequest ccr = {.stream = ts_str(out), .config = &cc};
    call_ok(pwm_ringq_v1_Streams_CreateConsumer_PATH, &pwm_ringq_v1_CreateConsumerRequest_desc,
            &ccr);
}

/* Publishes BATCH messages to `subject` (one Publish call). */
static void publish(const char *subject)
{
    pwm_ringq_v1_PublishMessage m[BATCH];
    for (size_t i = 0; i < BATCH; i++)
        m[i] = (pwm_ringq_v1_PublishMessage){.subject = ts_str(subject), .payload = ts_str("p")};
    pwm_ringq_v1_PublishRequest r = {.messages = m, .messages_count = BATCH};
    call_ok(pwm_ringq_v1_Streams_Publish_PATH, &pwm_ringq_v1_PublishRequest_desc, &r);
}

/* Fetches BATCH deliveries of consumer "g" into refs. */
static void fetch(const char *stream, pwm_ringq_v1_DeliveryRef *refs)
{
    pwm_ringq_v1_FetchRequest r = {
        .stream = ts_str(stream), .consumer = ts_str("g"), .max_messages = BATCH};
    uint32_t sid = call_ok(pwm_ringq_v1_Streams_Fetch_PATH, &pwm_ringq_v1_FetchRequest_desc, &r);
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pwm_ringq_v1_FetchResponse m;
    ck_assert(ts_next_msg(&C, sid, &pwm_ringq_v1_FetchResponse_desc, &m, &a));
    ck_assert_uint_eq(m.deliveries_count, BATCH);
    for (size_t i = 0; i < BATCH; i++)
        refs[i] = (pwm_ringq_v1_DeliveryRef){m.deliveries[i].message->seq, m.deliveries[i].token};
    pw_msg_arena_deinit(&a);
}

/* Starts an AckMessages call acking refs (BATCH of them). */
static uint32_t ack_start(const char *stream, pwm_ringq_v1_DeliveryRef *refs)
{
    pwm_ringq_v1_Acks acks = {.kind = pwm_ringq_v1_ACK_KIND_ACK, .refs = refs, .refs_count = BATCH};
    pwm_ringq_v1_AckMessagesRequest r = {
        .stream = ts_str(stream), .consumer = ts_str("g"), .acks = &acks};
    return ts_call_start(&C, pwm_ringq_v1_Streams_AckMessages_PATH,
                         &pwm_ringq_v1_AckMessagesRequest_desc, &r);
}

/* Waits for the answer of ack call `sid`: OK, one OK ItemStatus per ref, named by its stream
 * sequence in decimal. */
static void ack_answer_ok(uint32_t sid, const pwm_ringq_v1_DeliveryRef *refs)
{
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pwm_ringq_v1_AckMessagesResponse m;
    ck_assert(ts_next_msg(&C, sid, &pwm_ringq_v1_AckMessagesResponse_desc, &m, &a));
    ck_assert_uint_eq(m.results_count, BATCH);
    for (size_t i = 0; i < BATCH; i++) {
        char id[24];
        int n = snprintf(id, sizeof id, "%llu", (unsigned long long)refs[i].stream_seq);
        ck_assert_uint_eq(m.results[i].code, 0);
        ck_assert_uint_eq(m.results[i].id.len, (size_t)n);
        ck_assert(memcmp(m.results[i].id.ptr, id, (size_t)n) == 0);
    }
    pw_msg_arena_deinit(&a);
}

/* The owner's side of a 64-ref ack (shard 1 stepped alone while the counting allocator is
 * armed), in the steady state: the reply's buffer and nothing else. The refs handed to
 * q_consumer_settle and its per-item results are on the stack (two zeroed allocations per
 * batch before). */
START_TEST(ack_owner_allocates_only_the_reply)
{
    char name[32];
    ck_assert_int_eq(ts_server_start(&S, NSHARDS, NPARTS, Q_COMMIT_NEVER), 0);
    ts_client_open(&C, &S, 0);
    create_on(name, sizeof name, 1);
    pwm_ringq_v1_DeliveryRef refs[BATCH];
    for (int round = 0; round < 2; round++) { /* warm: the pending table, the log's pins */
        publish(name);
        fetch(name, refs);
        ack_answer_ok(ack_start(name, refs), refs);
    }
    publish(name);
    fetch(name, refs);
    ts_step_only(&C, 0);
    uint64_t sent0 = ts_mesh_sent(0);
    uint32_t sid = ack_start(name, refs);
    ck_assert(ts_wait_for(&C, ts_cond_origin_sent, &sent0, TS_WAIT_MS));
    uint64_t allocs = ts_owner_run_counted(&C);
    ack_answer_ok(sid, refs);
    ck_assert_msg(allocs <= 1, "the owner's side of a 64-ref ack made %llu allocations",
                  (unsigned long long)allocs);
    ts_client_close(&C);
    ts_server_stop(&S);
}
END_TEST

/* The next ConsumeResponse of Consume stream `cs`, decoded into *m over *a (deinit by the caller). */
static void next_response(uint32_t cs, pwm_ringq_v1_ConsumeResponse *m, pw_msg_arena *a)
{
    ck_assert(ts_wait_for(&C, ts_cond_msg_or_closed, &cs, TS_WAIT_MS));
    pw_msg_arena_init_heap(a, 4096, 1 << 20);
    ck_assert(ts_next_msg(&C, cs, &pwm_ringq_v1_ConsumeResponse_desc, m, a));
}

/* BATCH deliveries of Consume stream `cs` into refs. */
static void take_deliveries(uint32_t cs, pwm_ringq_v1_DeliveryRef *refs)
{
    for (size_t i = 0; i < BATCH; i++) {
        pwm_ringq_v1_ConsumeResponse m;
        pw_msg_arena a;
        next_response(cs, &m, &a);
        ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_ConsumeResponse_FIELD_delivery);
        refs[i] = (pwm_ringq_v1_DeliveryRef){m.delivery->message->seq, m.delivery->token};
        pw_msg_arena_deinit(&a);
    }
}

/* Sends ConsumeRequest `rid`: an Acks of refs (BATCH of them). */
static void consume_ack(uint32_t cs, uint64_t rid, pwm_ringq_v1_DeliveryRef *refs)
{
    pwm_ringq_v1_Acks acks = {.kind = pwm_ringq_v1_ACK_KIND_ACK, .refs = refs, .refs_count = BATCH};
    pwm_ringq_v1_ConsumeRequest r = {
        .request_id = rid, .kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_acks, .acks = &acks};
    ts_send(&C, cs, &pwm_ringq_v1_ConsumeRequest_desc, &r, false);
}

/* Waits for the ConsumeResult of ack request `rid`: OK, BATCH OK items. */
static void consume_ack_answered(uint32_t cs, uint64_t rid)
{
    pwm_ringq_v1_ConsumeResponse m;
    pw_msg_arena a;
    next_response(cs, &m, &a);
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_ConsumeResponse_FIELD_result);
    ck_assert_uint_eq(m.result->request_id, rid);
    ck_assert_uint_eq(m.result->code, 0);
    ck_assert_uint_eq(m.result->results_count, BATCH);
    for (size_t i = 0; i < BATCH; i++) ck_assert_uint_eq(m.result->results[i].code, 0);
    pw_msg_arena_deinit(&a);
}

/* The origin's side of a 64-ref Acks request on a Consume stream, from its frame to the job
 * sent to the owner (shard 0 stepped alone while the counting allocator is armed), in the
 * steady state: 4 allocations, among them the job's block (copy, decoded request and arena:
 * srv_job_decoded_msg), the job and the ack's reference (names, request id). The request used
 * to be decoded a second time first, only to read its kind, into a heap arena of its own (5). */
START_TEST(consume_acks_decoded_once_on_the_origin)
{
    char name[32];
    ck_assert_int_eq(ts_server_start(&S, NSHARDS, NPARTS, Q_COMMIT_NEVER), 0);
    ts_client_open(&C, &S, 0);
    create_on(name, sizeof name, 1);
    uint32_t cs = ts_open(&C, pwm_ringq_v1_Streams_Consume_PATH);
    pwm_ringq_v1_ConsumeBind bind = {
        .stream = ts_str(name), .consumer = ts_str("g"), .credits = 4 * BATCH};
    pwm_ringq_v1_ConsumeRequest br = {
        .request_id = 1, .kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_bind, .bind = &bind};
    ts_send(&C, cs, &pwm_ringq_v1_ConsumeRequest_desc, &br, false);
    pwm_ringq_v1_ConsumeResponse m;
    pw_msg_arena a;
    next_response(cs, &m, &a); /* the bind's result */
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_ConsumeResponse_FIELD_result);
    ck_assert_uint_eq(m.result->code, 0);
    pw_msg_arena_deinit(&a);
    pwm_ringq_v1_DeliveryRef refs[BATCH];
    for (uint64_t rid = 2; rid <= 3; rid++) { /* warm */
        publish(name);
        take_deliveries(cs, refs);
        consume_ack(cs, rid, refs);
        consume_ack_answered(cs, rid);
    }
    publish(name);
    take_deliveries(cs, refs);
    ts_step_only(&C, 0);
    uint64_t sent0 = ts_mesh_sent(0);
    ts_count_start();
    consume_ack(cs, 4, refs);
    ck_assert(ts_wait_for(&C, ts_cond_origin_sent, &sent0, TS_WAIT_MS));
    uint64_t allocs = ts_count_stop(NULL);
    ts_step_all(&C);
    consume_ack_answered(cs, 4);
    ck_assert_msg(allocs <= 4, "the origin's side of a 64-ref Acks request made %llu allocations",
                  (unsigned long long)allocs);
    ts_rst(&C, cs, 8 /* CANCEL */);
    ts_client_close(&C);
    ts_server_stop(&S);
}
END_TEST

int main(void)
{
    ts_require_uring("test_srv_stream_ack"); /* exits 77 (skip) without io_uring */
    Suite *s = suite_create("srv_stream_ack");
    TCase *tc = tcase_create("costs");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ack_owner_allocates_only_the_reply);
    tcase_add_test(tc, consume_acks_decoded_once_on_the_origin);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
