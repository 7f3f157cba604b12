/* Allocation failure across a Streams exchange of the in-process server (test_srv_util.h:
 * three shards stepped on this thread, scripted HTTP/2 + gRPC over a socketpair), with
 * core/rt_alloc's counting allocator, as test_srv_alloc walks the Queue's.
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
#include "test_srv_util.h"

#define NSHARDS 3
#define NPARTS 3
#define WALK_MAX 4000u    /* allocations of one exchange, at most */
#define WALK_CALL_MS 3000 /* a failed run's call must end within this */

static ts_server S;
static struct {
    uint64_t ok, exhausted, gone;
} tally;

/* A call's end: true when OK. Failed runs accept RESOURCE_EXHAUSTED and a lost connection. */
static bool outcome(ts_client *c, uint32_t sid, bool strict, const char *what)
{
    bool closed = ts_wait_closed(c, sid, strict ? TS_WAIT_MS : WALK_CALL_MS);
    ck_assert_msg(closed, "%s: no answer", what);
    ts_call *k = ts_call_of(c, sid);
    if (strict) {
        ck_assert_msg(k->status == 0, "%s: status %d (%s)", what, k->status, k->message);
        return true;
    }
    if (!k->closed || k->status < 0) {
        bool gone = c->eof || c->goaway;
        ck_assert_msg(gone || (k->reset && k->rst_code == 0xb), "%s: ended without status", what);
        tally.gone++;
        return false;
    }
    ck_assert_msg(k->status == 0 || k->status == PW_GRPC_RESOURCE_EXHAUSTED, "%s: status %d (%s)",
                  what, k->status, k->message);
    if (k->status == 0) tally.ok++;
    else tally.exhausted++;
    return k->status == 0;
}

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

/* The next ConsumeResponse of `sid`; false when the stream ended (or, failed runs, nothing came
 * in time). Every request is answered or the stream ends: never a silent drop. */
static bool consume_next(ts_client *c, uint32_t sid, bool strict, pwm_ringq_v1_ConsumeResponse *m,
                         pw_msg_arena *a)
{
    bool got = ts_wait_for(c, ts_cond_msg_or_closed, &sid, strict ? TS_WAIT_MS : WALK_CALL_MS);
    ck_assert_msg(got, "consume: no answer and the stream did not end");
    return ts_next_msg(c, sid, &pwm_ringq_v1_ConsumeResponse_desc, m, a);
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
    if (outcome(c, rs, strict, "read")) {
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
    while (!(bound && nd == 2) && consume_next(c, cs, strict, &m, a)) {
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
        while (!acked && consume_next(c, cs, strict, &m, a)) {
            if (m.kind_case != pwm_ringq_v1_ConsumeResponse_FIELD_result) continue;
            if (strict) ck_assert_uint_eq(m.result->code, 0);
            else if (m.result->code != 0)
                ck_assert_uint_eq(m.result->code, PW_GRPC_RESOURCE_EXHAUSTED);
            acked = true;
        }
    }
    ts_send_raw(c, cs, NULL, 0, true);
    (void)outcome(c, cs, strict, "consume");
}

/* The exchange on stream `name` (subject = name). Returns whether CreateStream answered OK. */
static bool exchange(ts_client *c, const char *name, bool strict)
{
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pw_pb_bytes subj = ts_str(name);
    pwm_ringq_v1_StreamConfig cfg = {.name = ts_str(name), .subjects = &subj, .subjects_count = 1};
    pwm_ringq_v1_CreateStreamRequest cs = {.config = &cfg};
    bool created = outcome(c,
                           start_call(c, pwm_ringq_v1_Streams_CreateStream_PATH,
                                      &pwm_ringq_v1_CreateStreamRequest_desc, &cs),
                           strict, "create stream");
    if (c->eof) goto out;
    pwm_ringq_v1_ConsumerConfig cc = {.name = ts_str("c"), .ack_wait_ms = 100};
    pwm_ringq_v1_CreateConsumerRequest cr = {.stream = ts_str(name), .config = &cc};
    uint32_t sid = start_call(c, pwm_ringq_v1_Streams_CreateConsumer_PATH,
                              &pwm_ringq_v1_CreateConsumerRequest_desc, &cr);
    ts_wait_closed(c, sid, strict ? TS_WAIT_MS : WALK_CALL_MS);
    /* NOT_FOUND when the failed run's stream was not created: accepted there */
    if (strict || ts_call_of(c, sid)->status != Q_NOT_FOUND)
        (void)outcome(c, sid, strict, "consumer");
    if (c->eof) goto out;
    int published = 0; /* Publishes answered OK: the Read and Consume below wait for two */
    sid = publish(c, name, "one");
    ts_wait_closed(c, sid, strict ? TS_WAIT_MS : WALK_CALL_MS);
    if (strict || ts_call_of(c, sid)->status != Q_FAILED_PRECONDITION)
        published += outcome(c, sid, strict, "publish");
    if (c->eof) goto out;
    pwm_ringq_v1_FetchRequest fr = {
        .stream = ts_str(name), .consumer = ts_str("c"), .max_messages = 2, .wait_ms = 300};
    uint32_t fs = start_call(c, pwm_ringq_v1_Streams_Fetch_PATH, &pwm_ringq_v1_FetchRequest_desc,
                             &fr);
    sid = publish(c, name, "two");
    ts_wait_closed(c, sid, strict ? TS_WAIT_MS : WALK_CALL_MS);
    if (strict || ts_call_of(c, sid)->status != Q_FAILED_PRECONDITION)
        published += outcome(c, sid, strict, "publish two");
    ts_wait_closed(c, fs, strict ? TS_WAIT_MS : WALK_CALL_MS);
    bool fetched = false;
    if (strict || ts_call_of(c, fs)->status != Q_NOT_FOUND)
        fetched = outcome(c, fs, strict, "fetch");
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
        (void)outcome(c,
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
    ts_wait_closed(c, sid, strict ? TS_WAIT_MS : WALK_CALL_MS);
    if (strict || ts_call_of(c, sid)->status != Q_NOT_FOUND) (void)outcome(c, sid, strict, "get");
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

static uint64_t run(uint64_t nth)
{
    ts_armed = 0;
    rt_alloc_test_start(nth);
    rt_alloc_test_arm(0);
    ck_assert_int_eq(ts_server_start(&S, NSHARDS, NPARTS, Q_COMMIT_ALWAYS), 0);
    char name[32], name2[32];
    name_on(name, sizeof name, "walk", 1);
    name_on(name2, sizeof name2, "again", 1);
    ts_client c, c2;
    ts_client_open(&c, &S, 0);
    ck_assert(ts_wait_for(&c, ts_cond_ready, NULL, TS_WAIT_MS));
    ts_armed = 1;
    rt_alloc_test_arm(1);
    bool created = exchange(&c, name, nth == 0);
    rt_alloc_test_arm(0);
    ts_armed = 0;
    uint64_t count = rt_alloc_test_count();
    if (nth) {
        ts_client_open(&c2, &S, 0);
        exchange(&c2, name2, true);
        if (created) /* answered OK: routable from the client's shard */
            ck_assert(outcome(&c2, publish(&c2, name, "after"), true, "publish after"));
        ts_client_close(&c2);
    }
    ts_client_close(&c);
    ts_server_stop(&S);
    ck_assert_msg(rt_alloc_test_live() == 0, "step %llu: %lld blocks leaked",
                  (unsigned long long)nth, (long long)rt_alloc_test_live());
    rt_alloc_test_stop();
    return count;
}

START_TEST(walk_streams)
{
    uint64_t total = run(0);
    ck_assert_uint_gt(total, 0);
    ck_assert_uint_lt(total, WALK_MAX);
    const char *from = getenv("SRV_WALK_FROM");
    bool verbose = getenv("SRV_WALK_VERBOSE") != NULL;
    uint64_t n = from ? strtoull(from, NULL, 10) : 1;
    for (; n <= total; n++) {
        if (verbose)
            fprintf(stderr, "walk step %llu/%llu\n", (unsigned long long)n,
                    (unsigned long long)total);
        run(n);
    }
    printf("walked %llu allocations; calls of failed runs: %llu OK, %llu RESOURCE_EXHAUSTED, %llu "
           "with their connection\n",
           (unsigned long long)total, (unsigned long long)tally.ok,
           (unsigned long long)tally.exhausted, (unsigned long long)tally.gone);
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
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
