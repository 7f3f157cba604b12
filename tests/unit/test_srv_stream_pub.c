/* server/srv_stream_pub: the per-request costs of a PublishStream request, counted in process
 * (server/srv_local, test_srv_util.h): two shards stepped by the test on its thread, the client
 * on shard 0, the stream's partition owned by shard 1, so a request's origin side (decode,
 * checks, routing, on shard 0) and owner side (append, reply encode, on shard 1) run apart and
 * are counted apart, with the counting allocator (core/rt_alloc) and the directory's lookup
 * counter (srv_sdir_lookups) — counters, not clocks. */
#include "queue/q_stream.h"
#include "server/srv_stream_dir.h"
#include "test_srv_util.h"
#include "ts_main.h"

#define NSHARDS 2
#define NPARTS 4
#define BATCH 64 /* the benchmark's batch (bench/streams.sh) */

static ts_server S;
static ts_client C;

static void start(void)
{
    ck_assert_int_eq(ts_server_start(&S, NSHARDS, NPARTS, Q_COMMIT_NEVER), 0);
    ts_client_open(&C, &S, 0);
}

static void stop(void)
{
    ts_client_close(&C);
    ts_server_stop(&S);
}

/* A stream name whose partition shard `owner` owns; the stream captures that name. */
static void create_on(char *out, size_t cap, int owner)
{
    for (int i = 0;; i++) {
        snprintf(out, cap, "pub%d", i);
        if (srv_q_owner(q_part_of(out, strlen(out), srv_q.nparts)) == owner) break;
    }
    pw_pb_bytes subj = ts_str(out);
    pwm_ringq_v1_StreamConfig cfg = {.name = ts_str(out), .subjects = &subj, .subjects_count = 1};
    pwm_ringq_v1_CreateStreamRequest r = {.config = &cfg};
    uint32_t sid = ts_call_start(&C, pwm_ringq_v1_Streams_CreateStream_PATH,
                                 &pwm_ringq_v1_CreateStreamRequest_desc, &r);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
}

/* Sends PublishStreamRequest `rid`: `n` 100-byte messages on `subject`. */
static void send_batch(uint32_t sid, uint64_t rid, const char *subject, size_t n)
{
    static const char payload[101] = {[0 ... 99] = 'x'};
    pwm_ringq_v1_PublishMessage m[BATCH];
    ck_assert_uint_le(n, BATCH);
    for (size_t i = 0; i < n; i++)
        m[i] = (pwm_ringq_v1_PublishMessage){.subject = ts_str(subject),
                                             .payload = ts_str(payload)};
    pwm_ringq_v1_PublishRequest p = {.messages = m, .messages_count = n};
    pwm_ringq_v1_PublishStreamRequest r = {.request_id = rid, .publish = &p};
    ts_send(&C, sid, &pwm_ringq_v1_PublishStreamRequest_desc, &r, false);
}

/* Waits for the answer to the next request of `sid` and checks it: OK, n acks. */
static void answer_ok(uint32_t sid, uint64_t rid, size_t n)
{
    ck_assert(ts_wait_for(&C, ts_cond_msg_or_closed, &sid, TS_WAIT_MS));
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pwm_ringq_v1_PublishStreamResponse m;
    ck_assert(ts_next_msg(&C, sid, &pwm_ringq_v1_PublishStreamResponse_desc, &m, &a));
    ck_assert_uint_eq(m.request_id, rid);
    ck_assert_uint_eq(m.code, 0);
    ck_assert_ptr_nonnull(m.publish);
    ck_assert_uint_eq(m.publish->acks_count, n);
    pw_msg_arena_deinit(&a);
}

/* Starts the server and opens a PublishStream call on a new stream owned by shard 1 (its name
 * in `name`), answered `warm` requests of `n` messages each first: the steady state. */
static uint32_t open_warm(char *name, size_t cap, uint64_t warm, size_t n)
{
    start();
    create_on(name, cap, 1);
    uint32_t sid = ts_open(&C, pwm_ringq_v1_Streams_PublishStream_PATH);
    for (uint64_t rid = 1; rid <= warm; rid++) {
        send_batch(sid, rid, name, n);
        answer_ok(sid, rid, n);
    }
    return sid;
}

/* Ends the call `sid` from the client's side, waits for it to close, stops the server. */
static void close_and_stop(uint32_t sid)
{
    ts_send_raw(&C, sid, NULL, 0, true);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    stop();
}

/* The owner's side of a PublishStream request of 64 messages (shard 1 stepped alone while the
 * counting allocator is armed), in the steady state: the reply's buffer and nothing else. The
 * message views, their headers, the plan, the results and the reply's acks and receipts are
 * on the stack (they were six allocations per request, whatever its size). */
START_TEST(publish_owner_allocates_only_the_reply)
{
    char name[32];
    /* Three batches first: the stream's subject, its index (64 entries, doubled to 256 by the
     * third) and the log's pins exist before the counted fourth. */
    uint32_t sid = open_warm(name, sizeof name, 3, BATCH);
    ts_step_only(&C, 0);
    uint64_t sent0 = ts_mesh_sent(0);
    send_batch(sid, 4, name, BATCH);
    ck_assert(ts_wait_for(&C, ts_cond_origin_sent, &sent0, TS_WAIT_MS));
    uint64_t allocs = ts_owner_run_counted(&C);
    answer_ok(sid, 4, BATCH);
    ck_assert_msg(allocs <= 1, "the owner's side of a 64-message publish made %llu allocations",
                  (unsigned long long)allocs);
    close_and_stop(sid);
}
END_TEST

/* The origin's side of a batch-1 PublishStream request, from its frame to the job sent to the
 * owner (shard 0 stepped alone while the counting allocator is armed), in the steady state: the
 * request's copy, its decoded form and the decode arena share one block (srv_job_decoded_msg;
 * they were three allocations). The others: the job (a cache hit, counted) and the request's
 * place in the answer order (srv_ordered). */
START_TEST(publish_origin_allocates_one_request_block)
{
    char name[32];
    uint32_t sid = open_warm(name, sizeof name, 2, 1);
    ts_step_only(&C, 0);
    uint64_t sent0 = ts_mesh_sent(0);
    ts_count_start();
    send_batch(sid, 3, name, 1);
    ck_assert(ts_wait_for(&C, ts_cond_origin_sent, &sent0, TS_WAIT_MS));
    uint64_t allocs = ts_count_stop(NULL);
    ts_step_all(&C);
    answer_ok(sid, 3, 1);
    ck_assert_msg(allocs <= 3, "the origin's side of a batch-1 publish made %llu allocations",
                  (unsigned long long)allocs);
    close_and_stop(sid);
}
END_TEST

/* The answer of a batch-1 PublishStream request on the origin, from the owner's reply to the
 * answer's DATA frame (shard 0 stepped alone while the counting allocator is armed): the owner
 * encoded the whole PublishStreamResponse, which is sent as it is. It used to be re-encoded
 * around the owner's PublishResponse into a buffer of its own (an allocation and a copy: 3).
 * The two left are the transport's (proto_wire: the HTTP/2 stream's DATA queue and the
 * session's output buffer, each taken again once emptied). */
START_TEST(publish_answer_is_sent_as_the_owner_encoded_it)
{
    char name[32];
    uint32_t sid = open_warm(name, sizeof name, 2, 1);
    ts_step_only(&C, 0);
    uint64_t sent0 = ts_mesh_sent(0);
    send_batch(sid, 3, name, 1);
    ck_assert(ts_wait_for(&C, ts_cond_origin_sent, &sent0, TS_WAIT_MS));
    ts_rounds(&C, 10);
    uint64_t ran1 = ts_mesh_received(1), sent1 = ts_mesh_sent(1);
    ts_step_only(&C, 1);
    ck_assert(ts_wait_for(&C, ts_cond_owner_ran, &ran1, TS_WAIT_MS));
    ck_assert_uint_gt(ts_mesh_sent(1), sent1); /* replied */
    ts_step_only(&C, 0);
    ts_count_start();
    ck_assert(ts_wait_for(&C, ts_cond_msg_or_closed, &sid, TS_WAIT_MS));
    uint64_t allocs = ts_count_stop(NULL);
    ts_step_all(&C);
    answer_ok(sid, 3, 1);
    ck_assert_msg(allocs <= 2, "the origin's side of an answer made %llu allocations",
                  (unsigned long long)allocs);
    close_and_stop(sid);
}
END_TEST

/* Shard 0's directory lookups so far (white box: run as that shard). */
static uint64_t lookups_on_0(void)
{
    srv_shard_enter(ts_shard(&S, 0));
    uint64_t n = srv_sdir_lookups();
    srv_shard_enter(NULL);
    return n;
}

/* Routing a batch of one subject on the origin: one subject check and one directory lookup
 * for the batch, not one per message (it was 64 for 64 messages). */
START_TEST(publish_batch_of_one_subject_routes_once)
{
    char name[32];
    uint32_t sid = open_warm(name, sizeof name, 0, BATCH);
    uint64_t before = lookups_on_0();
    send_batch(sid, 1, name, BATCH);
    answer_ok(sid, 1, BATCH);
    uint64_t n = lookups_on_0() - before;
    ck_assert_msg(n == 1, "a 64-message batch of one subject made %llu lookups",
                  (unsigned long long)n);
    close_and_stop(sid);
}
END_TEST

static uint64_t checks_on_0(void)
{
    srv_shard_enter(ts_shard(&S, 0));
    uint64_t n = srv_sdir_subject_checks();
    srv_shard_enter(NULL);
    return n;
}

/* A producer's batch-1 publishes of one subject on the origin: the subject is checked and
 * matched against the stream's filters once, then found by its bytes in the shard's memory
 * (it was a grammar check and a filter match per publish). Each publish still makes its one
 * lookup, and every answer is OK. */
START_TEST(publish_origin_checks_a_producers_subject_once)
{
    char name[32];
    uint32_t sid = open_warm(name, sizeof name, 1, 1);
    uint64_t before = checks_on_0(), looked = lookups_on_0();
    for (uint64_t rid = 2; rid <= 17; rid++) {
        send_batch(sid, rid, name, 1);
        answer_ok(sid, rid, 1);
    }
    uint64_t n = checks_on_0() - before;
    ck_assert_msg(n == 0, "16 batch-1 publishes of one subject made %llu subject checks",
                  (unsigned long long)n);
    ck_assert_uint_eq(lookups_on_0() - looked, 16);
    close_and_stop(sid);
}
END_TEST

/* CreateStream (update false) or UpdateStream of stream `name` capturing `subject`: OK. */
static void put_stream(const char *name, const char *subject, bool update)
{
    pw_pb_bytes subj = ts_str(subject);
    pwm_ringq_v1_StreamConfig cfg = {.name = ts_str(name), .subjects = &subj, .subjects_count = 1};
    uint32_t sid;
    if (update) {
        pwm_ringq_v1_UpdateStreamRequest r = {.config = &cfg};
        sid = ts_call_start(&C, pwm_ringq_v1_Streams_UpdateStream_PATH,
                            &pwm_ringq_v1_UpdateStreamRequest_desc, &r);
    } else {
        pwm_ringq_v1_CreateStreamRequest r = {.config = &cfg};
        sid = ts_call_start(&C, pwm_ringq_v1_Streams_CreateStream_PATH,
                            &pwm_ringq_v1_CreateStreamRequest_desc, &r);
    }
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
}

static void del_stream(const char *name)
{
    pwm_ringq_v1_DeleteStreamRequest r = {.name = ts_str(name)};
    uint32_t sid = ts_call_start(&C, pwm_ringq_v1_Streams_DeleteStream_PATH,
                                 &pwm_ringq_v1_DeleteStreamRequest_desc, &r);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
}

/* The stream srv_sdir_route gives `subject` on `shard`, routed `times` times (white box: run as
 * that shard), as "" when none captures it. */
static const char *route_on(int shard, const char *subject, int times)
{
    static char name[SRV_STREAM_NAME_BYTES_MAX + 1];
    name[0] = '\0';
    srv_shard_enter(ts_shard(&S, shard));
    for (int i = 0; i < times; i++) {
        const srv_sdir_ent *e;
        q_err err;
        ck_assert_int_eq(srv_sdir_route(subject, strlen(subject), &e, &err), Q_OK);
        if (e) snprintf(name, sizeof name, "%.*s", (int)e->name_len, e->name);
        else name[0] = '\0';
    }
    srv_shard_enter(NULL);
    return name;
}

/* A route's hit skips the subject check and the filter match: only the directory's changes
 * clearing every shard's memory keep it true. A subject remembered for stream A is refused once
 * A no longer captures it, routed to B once B does, refused once B is deleted, routed again once
 * it is re-created: on both shards, each remembering it before every change. */
START_TEST(route_memory_follows_every_directory_change)
{
    start();
    put_stream("dirA", "r.a", false);
    for (int sh = 0; sh < NSHARDS; sh++) ck_assert_str_eq(route_on(sh, "r.a", 4), "dirA");
    uint64_t before = checks_on_0();
    ck_assert_str_eq(route_on(0, "r.a", 4), "dirA");
    ck_assert_uint_eq(checks_on_0() - before, 0); /* the hits this test is about */
    put_stream("dirA", "r.b", true);
    for (int sh = 0; sh < NSHARDS; sh++) ck_assert_str_eq(route_on(sh, "r.a", 2), "");
    put_stream("dirB", "r.a", false);
    for (int sh = 0; sh < NSHARDS; sh++) ck_assert_str_eq(route_on(sh, "r.a", 2), "dirB");
    del_stream("dirB");
    for (int sh = 0; sh < NSHARDS; sh++) ck_assert_str_eq(route_on(sh, "r.a", 2), "");
    put_stream("dirB", "r.a", false);
    for (int sh = 0; sh < NSHARDS; sh++) ck_assert_str_eq(route_on(sh, "r.a", 2), "dirB");
    stop();
}
END_TEST

int main(void)
{
    ts_require_uring("test_srv_stream_pub"); /* exits 77 (skip) without io_uring */
    Suite *s = suite_create("srv_stream_pub");
    TCase *tc = tcase_create("costs");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, publish_owner_allocates_only_the_reply);
    tcase_add_test(tc, publish_batch_of_one_subject_routes_once);
    tcase_add_test(tc, publish_origin_checks_a_producers_subject_once);
    tcase_add_test(tc, publish_origin_allocates_one_request_block);
    tcase_add_test(tc, publish_answer_is_sent_as_the_owner_encoded_it);
    tcase_add_test(tc, route_memory_follows_every_directory_change);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
