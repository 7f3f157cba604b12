/* Allocation failure across a Streams exchange of the in-process server (test_srv_util.h:
 * three shards stepped on this thread, scripted HTTP/2 + gRPC over a socketpair), walked by
 * ts_walk.h as test_srv_alloc walks the Queue's.
 *
 * The exchange, from shard 0: CreateStream (a directory change: shard 0 checks, the owner
 * writes, every shard applies), CreateConsumer, Publish, a Fetch long-poll parked on the owner
 * and woken by a second Publish, AckMessages, a bounded Read, a Consume stream (bind of an
 * ephemeral consumer with two credits, the deliveries, their ack, half-close), GetStream. A dry run counts the server's
 * allocations during it; then for every N a fresh server runs it with allocation N failing:
 *   - nothing crashes (the san build adds ASan and UBSan);
 *   - every call ends in time with OK, RESOURCE_EXHAUSTED, or its connection gone: none hangs
 *     (a Fetch answered RESOURCE_EXHAUSTED may have handed deliveries out: they come back at
 *     the consumer's ack wait);
 *   - with the counter disarmed, the same exchange on a new connection and a new stream
 *     succeeds in full, and the failed run's stream, when its CreateStream answered OK, is
 *     routable from the client's shard;
 *   - after teardown no block allocated since the start is still live.
 * SRV_WALK_FROM=N starts at N; SRV_WALK_VERBOSE=1 prints each step. */
#include "ts_walk.h"
#include "ts_main.h"

#define NSHARDS 3
#define NPARTS 3

static uint32_t start_call(ts_client *c, const char *path, const pw_msg_desc *d, const void *m)
{
    return ts_call_start(c, path, d, m);
}

static uint32_t publish(ts_client *c, const char *subject, const char *payload)
{
    pwm_ringq_v1_PublishMessage m = {.subject = ts_str(subject), .payload = ts_str(payload)};
    pwm_ringq_v1_PublishRequest pr = {.messages = &m, .messages_count = 1};
    return start_call(c, pwm_ringq_v1_Streams_Publish_PATH, &pwm_ringq_v1_PublishRequest_desc, &pr);
}

/* Read (bounded) of messages 1..2, then a Consume stream on a second consumer: bind with two
 * credits, the two deliveries, their ack on the stream, half-close. */
static void read_and_consume(ts_client *c, const char *name, bool strict, pw_msg_arena *a)
{
    pwm_ringq_v1_ReadRequest rr = {.stream = ts_str(name),
                                   .start_case = pwm_ringq_v1_ReadRequest_FIELD_start_seq,
                                   .start_seq = 1,
                                   .end_seq = 2};
    uint32_t rs = start_call(c, pwm_ringq_v1_Streams_Read_PATH, &pwm_ringq_v1_ReadRequest_desc,
                             &rr);
    if (ts_walk_outcome(c, rs, strict, "read")) {
        pwm_ringq_v1_StreamMessage m;
        int n = 0;
        while (ts_next_msg(c, rs, &pwm_ringq_v1_StreamMessage_desc, &m, a)) n++;
        if (strict) ck_assert_int_eq(n, 2);
    }
    if (c->eof) return;
    uint32_t cs = ts_open(c, pwm_ringq_v1_Streams_Consume_PATH);
    pwm_ringq_v1_ConsumerConfig eph = {.ephemeral = true};
    pwm_ringq_v1_ConsumeBind b = {.stream = ts_str(name), .ephemeral = &eph, .credits = 2};
    pwm_ringq_v1_ConsumeRequest br = {
        .request_id = 1, .kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_bind, .bind = &b};
    ts_send(c, cs, &pwm_ringq_v1_ConsumeRequest_desc, &br, false);
    pwm_ringq_v1_ConsumeResponse m;
    pwm_ringq_v1_DeliveryRef refs[2];
    size_t nd = 0;
    bool bound = false, acked = false;
    while (!(bound && nd == 2) &&
           ts_walk_next(c, cs, strict, &pwm_ringq_v1_ConsumeResponse_desc, &m, a, "consume")) {
        if (m.kind_case == pwm_ringq_v1_ConsumeResponse_FIELD_delivery && nd < 2) {
            refs[nd++] = (pwm_ringq_v1_DeliveryRef){m.delivery->message->seq, m.delivery->token};
        } else if (m.kind_case == pwm_ringq_v1_ConsumeResponse_FIELD_result) {
            if (strict) ck_assert_uint_eq(m.result->code, 0);
            else if (m.result->code != 0)
                ck_assert_uint_eq(m.result->code, PW_GRPC_RESOURCE_EXHAUSTED);
            bound = m.result->code == 0;
            if (!bound) break;
        }
    }
    if (strict) ck_assert(bound && nd == 2);
    if (nd > 0 && !ts_call_of(c, cs)->closed && !c->eof) {
        pwm_ringq_v1_Acks acks = {.refs = refs, .refs_count = nd};
        pwm_ringq_v1_ConsumeRequest ar = {
            .request_id = 9, .kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_acks, .acks = &acks};
        ts_send(c, cs, &pwm_ringq_v1_ConsumeRequest_desc, &ar, false);
        while (!acked &&
               ts_walk_next(c, cs, strict, &pwm_ringq_v1_ConsumeResponse_desc, &m, a, "consume")) {
            if (m.kind_case != pwm_ringq_v1_ConsumeResponse_FIELD_result) continue;
            if (strict) ck_assert_uint_eq(m.result->code, 0);
            else if (m.result->code != 0)
                ck_assert_uint_eq(m.result->code, PW_GRPC_RESOURCE_EXHAUSTED);
            acked = true;
        }
    }
    ts_send_raw(c, cs, NULL, 0, true);
    (void)ts_walk_outcome(c, cs, strict, "consume");
}

/* The exchange on stream `name` (subject = name). Returns whether CreateStream answered OK. */
static bool exchange(ts_client *c, const char *name, bool strict)
{
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pw_pb_bytes subj = ts_str(name);
    pwm_ringq_v1_StreamConfig cfg = {.name = ts_str(name), .subjects = &subj, .subjects_count = 1};
    pwm_ringq_v1_CreateStreamRequest cs = {.config = &cfg};
    bool created = ts_walk_outcome(c,
                                   start_call(c, pwm_ringq_v1_Streams_CreateStream_PATH,
                                              &pwm_ringq_v1_CreateStreamRequest_desc, &cs),
                                   strict, "create stream");
    if (c->eof) goto out;
    pwm_ringq_v1_ConsumerConfig cc = {.name = ts_str("c"), .ack_wait_ms = 100};
    pwm_ringq_v1_CreateConsumerRequest cr = {.stream = ts_str(name), .config = &cc};
    uint32_t sid = start_call(c, pwm_ringq_v1_Streams_CreateConsumer_PATH,
                              &pwm_ringq_v1_CreateConsumerRequest_desc, &cr);
    ts_wait_closed(c, sid, ts_walk_call_ms(strict));
    /* NOT_FOUND when the failed run's stream was not created: accepted there */
    if (strict || ts_call_of(c, sid)->status != Q_NOT_FOUND)
        (void)ts_walk_outcome(c, sid, strict, "consumer");
    if (c->eof) goto out;
    int published = 0; /* Publishes answered OK: the Read and Consume below wait for two */
    sid = publish(c, name, "one");
    ts_wait_closed(c, sid, ts_walk_call_ms(strict));
    if (strict || ts_call_of(c, sid)->status != Q_FAILED_PRECONDITION)
        published += ts_walk_outcome(c, sid, strict, "publish");
    if (c->eof) goto out;
    pwm_ringq_v1_FetchRequest fr = {
        .stream = ts_str(name), .consumer = ts_str("c"), .max_messages = 2, .wait_ms = 300};
    uint32_t fs = start_call(c, pwm_ringq_v1_Streams_Fetch_PATH, &pwm_ringq_v1_FetchRequest_desc,
                             &fr);
    sid = publish(c, name, "two");
    ts_wait_closed(c, sid, ts_walk_call_ms(strict));
    if (strict || ts_call_of(c, sid)->status != Q_FAILED_PRECONDITION)
        published += ts_walk_outcome(c, sid, strict, "publish two");
    ts_wait_closed(c, fs, ts_walk_call_ms(strict));
    bool fetched = false;
    if (strict || ts_call_of(c, fs)->status != Q_NOT_FOUND)
        fetched = ts_walk_outcome(c, fs, strict, "fetch");
    pwm_ringq_v1_FetchResponse rs;
    if (fetched && ts_next_msg(c, fs, &pwm_ringq_v1_FetchResponse_desc, &rs, &a) &&
        rs.deliveries_count > 0) {
        if (strict) ck_assert_uint_ge(rs.deliveries_count, 1);
        pwm_ringq_v1_DeliveryRef refs[2];
        for (size_t i = 0; i < rs.deliveries_count && i < 2; i++)
            refs[i] = (pwm_ringq_v1_DeliveryRef){rs.deliveries[i].message->seq,
                                                 rs.deliveries[i].token};
        pwm_ringq_v1_Acks acks = {.refs = refs,
                                  .refs_count = rs.deliveries_count < 2 ? rs.deliveries_count : 2};
        pwm_ringq_v1_AckMessagesRequest ar = {
            .stream = ts_str(name), .consumer = ts_str("c"), .acks = &acks};
        (void)ts_walk_outcome(c,
                              start_call(c, pwm_ringq_v1_Streams_AckMessages_PATH,
                                         &pwm_ringq_v1_AckMessagesRequest_desc, &ar),
                              strict, "ack");
    } else if (strict) {
        ck_abort_msg("fetch: no delivery");
    }
    if (c->eof) goto out;
    /* Read to seq 2 and two credits wait for two messages (live): only when both exist. */
    if (published == 2) read_and_consume(c, name, strict, &a);
    if (c->eof) goto out;
    pwm_ringq_v1_GetStreamRequest gr = {.name = ts_str(name)};
    sid = start_call(c, pwm_ringq_v1_Streams_GetStream_PATH, &pwm_ringq_v1_GetStreamRequest_desc,
                     &gr);
    ts_wait_closed(c, sid, ts_walk_call_ms(strict));
    if (strict || ts_call_of(c, sid)->status != Q_NOT_FOUND)
        (void)ts_walk_outcome(c, sid, strict, "get");
out:
    pw_msg_arena_deinit(&a);
    return created;
}

/* A name whose partition is owned by shard `owner`. */
static void name_on(char *out, size_t cap, const char *prefix, int owner)
{
    for (int i = 0;; i++) {
        snprintf(out, cap, "%s%d", prefix, i);
        if (srv_q_owner(q_part_of(out, strlen(out), NPARTS)) == owner) return;
    }
}

/* The walk's runs: streams of shard 1, one for the failed run, another for the follow-up (the
 * same exchange in full); the failed run's stream, when its CreateStream answered OK, must be
 * routable from the client's shard. */
typedef struct walk_state {
    char name[32], name2[32];
    bool created; /* the failed run's CreateStream answered OK */
} walk_state;

static void prepare_names(void *ctx)
{
    walk_state *w = ctx;
    name_on(w->name, sizeof w->name, "walk", 1);
    name_on(w->name2, sizeof w->name2, "again", 1);
}

static void run_exchange(ts_client *c, void *ctx, bool strict)
{
    walk_state *w = ctx;
    w->created = exchange(c, w->name, strict);
}

static void follow_up(ts_client *c, void *ctx)
{
    walk_state *w = ctx;
    exchange(c, w->name2, true);
    if (w->created) /* answered OK: routable from the client's shard */
        ck_assert(ts_walk_outcome(c, publish(c, w->name, "after"), true, "publish after"));
}

START_TEST(walk_streams)
{
    walk_state st;
    ts_walk w = {.nshards = NSHARDS,
                 .nparts = NPARTS,
                 .ctx = &st,
                 .prepare = prepare_names,
                 .exchange = run_exchange,
                 .follow_up = follow_up};
    uint64_t total = ts_walk_all(&w, NULL);
    const ts_walk_tally *t = &ts_walk_calls;
    printf("walked %llu allocations; calls of failed runs: %llu OK, %llu RESOURCE_EXHAUSTED, %llu "
           "with their connection\n",
           (unsigned long long)total, (unsigned long long)t->ok, (unsigned long long)t->exhausted,
           (unsigned long long)(t->reset + t->conn_closed));
}
END_TEST

int main(void)
{
    ts_require_uring("test_srv_stream_alloc"); /* exits 77 (skip) without io_uring */
    Suite *s = suite_create("srv_stream_alloc");
    TCase *tc = tcase_create("walk");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, walk_streams);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
