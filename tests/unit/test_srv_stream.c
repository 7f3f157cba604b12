/* server/ Streams service driven in process (server/srv_local, test_srv_util.h): three shards
 * stepped by the test on its thread, the client on shard 0.
 *
 * The subject -> stream directory (server/srv_stream_dir.h): every shard keeps its own copy and
 * shard 0 serialises the changes. The cases hold shard 2's mesh lane (it is not stepped) to show
 * that a CreateStream is answered only once every shard applied the new entry, and send two
 * overlapping creates back to back to show that shard 0 lets exactly one through. */
#include "queue/q_consumer.h"
#include "queue/q_stream.h"
#include "server/srv_stream_dir.h"
#include "server/srv_stream_int.h"
#include "test_srv_util.h"
#include "ts_main.h"

#define NSHARDS 3
#define NPARTS 6

static ts_server S;
static ts_client C;

static void start(void)
{
    ck_assert_int_eq(ts_server_start(&S, NSHARDS, NPARTS, Q_COMMIT_ALWAYS), 0);
    ts_client_open(&C, &S, 0);
}

static void stop(void)
{
    ts_client_close(&C);
    ts_server_stop(&S);
}

/* A stream name whose partition is owned by shard `owner`. */
static void name_on(char *out, size_t cap, const char *prefix, int owner)
{
    for (int i = 0;; i++) {
        snprintf(out, cap, "%s%d", prefix, i);
        if (srv_q_owner(q_part_of(out, strlen(out), srv_q.nparts)) == owner) return;
    }
}

static uint32_t create_start(const char *name, const char *subject)
{
    pw_pb_bytes subj = ts_str(subject);
    pwm_ringq_v1_StreamConfig cfg = {.name = ts_str(name), .subjects = &subj, .subjects_count = 1};
    pwm_ringq_v1_CreateStreamRequest r = {.config = &cfg};
    return ts_call_start(&C, pwm_ringq_v1_Streams_CreateStream_PATH,
                         &pwm_ringq_v1_CreateStreamRequest_desc, &r);
}

/* Shard `i`'s own directory copy (white box: run as that shard). */
static const srv_sdir_ent *dir_on(int i, const char *subject)
{
    srv_shard_enter(ts_shard(&S, i));
    const srv_sdir_ent *e = srv_sdir_lookup(subject, strlen(subject));
    srv_shard_enter(NULL);
    return e;
}

START_TEST(create_answered_once_every_shard_applied)
{
    start();
    char name[32];
    name_on(name, sizeof name, "orders", 1);
    /* Hold shard 2: the change reaches shard 0, the owner writes, shards 0 and 1 apply it. */
    C.step_mask_set = true;
    C.step_mask = 0x3;
    uint32_t sid = create_start(name, "orders.>");
    ts_rounds(&C, 200);
    ck_assert_msg(!ts_call_of(&C, sid)->closed, "answered before shard 2 applied the change");
    ck_assert_ptr_nonnull(dir_on(0, "orders.x"));
    ck_assert_ptr_nonnull(dir_on(1, "orders.x"));
    ck_assert_ptr_null(dir_on(2, "orders.x"));
    q_stream *s = q_stream_find(ts_part(q_part_of(name, strlen(name), NPARTS))->p, name,
                                strlen(name));
    ck_assert_ptr_nonnull(s); /* written by the owner already */
    /* Release shard 2: it applies the entry, shard 0 hears back, the origin answers. */
    C.step_mask_set = false;
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    const srv_sdir_ent *e = dir_on(2, "orders.x.y");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->name, name);
    ck_assert_uint_eq(e->part, q_part_of(name, strlen(name), NPARTS));
    stop();
}
END_TEST

START_TEST(overlapping_creates_one_wins)
{
    start();
    char a[32], b[32];
    name_on(a, sizeof a, "a", 2);
    name_on(b, sizeof b, "b", 1);
    uint32_t sa = create_start(a, "x.*"), sb = create_start(b, "*.y");
    ck_assert(ts_wait_closed(&C, sa, TS_WAIT_MS));
    ck_assert(ts_wait_closed(&C, sb, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sa), 0);
    ck_assert_int_eq(ts_status(&C, sb), PW_GRPC_FAILED_PRECONDITION);
    ck_assert_ptr_null(q_stream_find(ts_part(q_part_of(b, strlen(b), NPARTS))->p, b, strlen(b)));
    for (int i = 0; i < NSHARDS; i++) ck_assert_str_eq(dir_on(i, "x.y")->name, a);
    stop();
}
END_TEST

/* ---- durable before visible ---- */

static int commits_seen; /* commit completions processed on the stream's partition */

static void on_committed_probe(q_log *log, void *ud, uint64_t durable)
{
    commits_seen++;
    srv_part_serve_durable(ud); /* what the server's own handler does */
}

static uint32_t call_ok(const char *path, const pw_msg_desc *d, const void *msg)
{
    uint32_t sid = ts_call_start(&C, path, d, msg);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    return sid;
}

/* The Fetch parked on consumer `cons` of `name` (white box: the owner's watch). */
static bool fetch_parked(ts_client *c, const void *arg)
{
    const char *name = arg;
    uint32_t part = q_part_of(name, strlen(name), NPARTS);
    srv_shard_enter(ts_shard(&S, srv_q_owner(part)));
    srv_cwatch *w = srv_cwatch_get(part, name, strlen(name), "c", 1, false);
    srv_shard_enter(NULL);
    return w && w->fetch_head;
}

START_TEST(consumer_delivery_waits_for_the_commit)
{
    start();
    char name[32];
    name_on(name, sizeof name, "dv", 2);
    ck_assert(ts_wait_closed(&C, create_start(name, name), TS_WAIT_MS));
    pwm_ringq_v1_ConsumerConfig cc = {.name = ts_str("c")};
    pwm_ringq_v1_CreateConsumerRequest cr = {.stream = ts_str(name), .config = &cc};
    call_ok(pwm_ringq_v1_Streams_CreateConsumer_PATH, &pwm_ringq_v1_CreateConsumerRequest_desc,
            &cr);
    pwm_ringq_v1_FetchRequest fr = {
        .stream = ts_str(name), .consumer = ts_str("c"), .max_messages = 1, .wait_ms = 20000};
    uint32_t fs = ts_call_start(&C, pwm_ringq_v1_Streams_Fetch_PATH,
                                &pwm_ringq_v1_FetchRequest_desc, &fr);
    ck_assert(ts_wait_for(&C, fetch_parked, name, TS_WAIT_MS));
    srv_part *sp = ts_part(q_part_of(name, strlen(name), NPARTS));
    q_log_on_committed(q_part_log(sp->p), on_committed_probe, sp);
    pwm_ringq_v1_PublishMessage m = {.subject = ts_str(name), .payload = ts_str("durable")};
    pwm_ringq_v1_PublishRequest pr = {.messages = &m, .messages_count = 1};
    uint32_t ps = ts_call_start(&C, pwm_ringq_v1_Streams_Publish_PATH,
                                &pwm_ringq_v1_PublishRequest_desc, &pr);
    /* Step by step: whenever the consumer has handed the message out, its record is durable. */
    q_stream *s = q_stream_find(sp->p, name, strlen(name));
    q_consumer *c = q_consumer_find(s, "c", 1);
    uint64_t deadline = rt_now_ns() + (uint64_t)TS_WAIT_MS * RT_NS_PER_MS;
    while (!(ts_call_of(&C, fs)->closed && ts_call_of(&C, ps)->closed)) {
        ck_assert_msg(rt_now_ns() < deadline, "the exchange did not finish");
        bool moved = ts_round(&C);
        q_consumer_info ci;
        q_consumer_info_fill(c, srv_q_now_ms(), &ci);
        if (ci.state.num_ack_pending > 0) {
            q_smsg msg;
            ck_assert_int_eq(q_stream_get(sp->p, s, 1, &msg, NULL), Q_OK);
            ck_assert_msg(commits_seen > 0 && msg.offset < q_log_durable(q_part_log(sp->p)),
                          "delivered before its record was durable");
        }
        if (!moved) ts_idle(&C);
    }
    ck_assert_int_eq(ts_status(&C, ps), 0);
    ck_assert_int_eq(ts_status(&C, fs), 0);
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pwm_ringq_v1_FetchResponse rs;
    ck_assert(ts_next_msg(&C, fs, &pwm_ringq_v1_FetchResponse_desc, &rs, &a));
    ck_assert_uint_eq(rs.deliveries_count, 1);
    ck_assert_uint_eq(rs.deliveries[0].message->seq, 1);
    pw_msg_arena_deinit(&a);
    stop();
}
END_TEST

int main(void)
{
    ts_require_uring("test_srv_stream"); /* exits 77 (skip) without io_uring */
    Suite *s = suite_create("srv_stream");
    TCase *tc = tcase_create("dir");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, create_answered_once_every_shard_applied);
    tcase_add_test(tc, overlapping_creates_one_wins);
    tcase_add_test(tc, consumer_delivery_waits_for_the_commit);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
