/* server/ Queue service driven in process: two shards stepped by the test on its thread
 * (server/srv_local), scripted HTTP/2 + gRPC frames over a socketpair (test_srv_util.h).
 *
 * The client always talks to shard 0; queue names are picked so their partition is owned by
 * the shard a case needs. A job for another shard's partition waits in its mesh lane until the
 * test steps that shard: the cases hold a job on its way (step shard 0 only), let the origin's
 * call be cancelled meanwhile, and release it. */
#include "test_srv_util.h"
#include "ts_main.h"

static ts_server S;
static ts_client C;

static void start(int nshards, q_commit_policy policy)
{
    ck_assert_int_eq(ts_server_start(&S, nshards, 4, policy), 0);
    ts_client_open(&C, &S, 0);
}

static void stop(void)
{
    ts_client_close(&C);
    ts_server_stop(&S);
}

/* Shard 0 has no call open any more (it processed the client's reset). */
static bool cond_no_calls(ts_client *c, const void *arg) { return ts_active_calls(c->s, 0) == 0; }

static bool parked(const char *q)
{
    uint32_t k = q_part_of(q, strlen(q), srv_q.nparts);
    srv_waitq *wq = srv_part_waitq(ts_part(k), q, (uint32_t)strlen(q), false);
    return wq && wq->head;
}

static bool cond_parked(ts_client *c, const void *q) { return parked(q); }

/* Nobody (long-poll or Work registration) waits on queue q any more. */
static bool cond_no_waitq(ts_client *c, const void *arg)
{
    const char *q = arg;
    uint32_t k = q_part_of(q, strlen(q), srv_q.nparts);
    return srv_part_waitq(ts_part(k), q, (uint32_t)strlen(q), false) == NULL;
}

/* Enqueues one task and returns its id (copied into id[64]). */
static void enqueue_ok(const char *q, const char *payload, char id[64])
{
    uint32_t sid = ts_enqueue_start(&C, q, payload);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pwm_ringq_v1_EnqueueResponse rs;
    ck_assert(ts_next_msg(&C, sid, &pwm_ringq_v1_EnqueueResponse_desc, &rs, &a));
    ck_assert_uint_eq(rs.results_count, 1);
    ck_assert(!rs.results[0].duplicate);
    ck_assert_uint_lt(rs.results[0].id.len, 64);
    snprintf(id, 64, "%.*s", (int)rs.results[0].id.len, (const char *)rs.results[0].id.ptr);
    pw_msg_arena_deinit(&a);
}

/* The tasks of a closed Lease call: count, and the first's id and payload. */
/* The first task of a finished Lease: id, payload, attempt and lease token (each may be NULL but
 * id and payload). Returns the task count. */
static size_t lease_result(uint32_t sid, char id[64], char payload[64], uint32_t *attempt,
                           uint64_t *token)
{
    ck_assert_int_eq(ts_status(&C, sid), 0);
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pwm_ringq_v1_LeaseResponse rs;
    ck_assert(ts_next_msg(&C, sid, &pwm_ringq_v1_LeaseResponse_desc, &rs, &a));
    size_t n = rs.tasks_count;
    if (n > 0) {
        snprintf(id, 64, "%.*s", (int)rs.tasks[0].id.len, (const char *)rs.tasks[0].id.ptr);
        snprintf(payload, 64, "%.*s", (int)rs.tasks[0].payload.len,
                 (const char *)rs.tasks[0].payload.ptr);
        if (attempt) *attempt = rs.tasks[0].attempt;
        if (token) *token = rs.tasks[0].lease_token;
    }
    pw_msg_arena_deinit(&a);
    return n;
}

static void ack_ok(const char *id, uint64_t token)
{
    pw_pb_bytes ids[1] = {ts_str(id)};
    uint32_t sid = ts_ack_start(&C, ids, &token, 1);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pwm_ringq_v1_AckResponse rs;
    ck_assert(ts_next_msg(&C, sid, &pwm_ringq_v1_AckResponse_desc, &rs, &a));
    ck_assert_uint_eq(rs.results_count, 1);
    ck_assert_uint_eq(rs.results[0].code, 0);
    pw_msg_arena_deinit(&a);
}

/* The owner's figures for queue `q` (white-box, after the exchange settled). */
static q_queue_info queue_info(const char *q)
{
    uint32_t k = q_part_of(q, strlen(q), srv_q.nparts);
    q_queue_info qi;
    memset(&qi, 0, sizeof qi);
    q_err e;
    q_status st = q_part_get_queue(ts_part(k)->p, q, strlen(q), srv_q_now_ms(), &qi, &e);
    ck_assert(st == Q_OK || st == Q_NOT_FOUND);
    return qi;
}

START_TEST(enqueue_lease_ack_across_shards)
{
    start(2, Q_COMMIT_NEVER);
    char q[32], id[64], lid[64], payload[64];
    ts_queue_on(q, sizeof q, "far", 1);
    /* Hold shard 1: the Enqueue's job waits in the lane, the call stays open. */
    ts_step_only(&C, 0);
    uint64_t sent0 = ts_mesh_sent(0);
    uint32_t sid = ts_enqueue_start(&C, q, "hello");
    ck_assert(ts_wait_for(&C, ts_cond_origin_sent, &sent0, TS_WAIT_MS));
    ts_rounds(&C, 50);
    ck_assert(!ts_call_of(&C, sid)->closed);
    ck_assert_uint_eq(queue_info(q).enqueued_total, 0);
    /* Release it: the owner appends, the reply crosses back, shard 0 answers. */
    ts_step_all(&C);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pwm_ringq_v1_EnqueueResponse rs;
    ck_assert(ts_next_msg(&C, sid, &pwm_ringq_v1_EnqueueResponse_desc, &rs, &a));
    ck_assert_uint_eq(rs.results_count, 1);
    snprintf(id, sizeof id, "%.*s", (int)rs.results[0].id.len, (const char *)rs.results[0].id.ptr);
    pw_msg_arena_deinit(&a);

    uint32_t ls = ts_lease_start(&C, q, 10, 0, 30000);
    ck_assert(ts_wait_closed(&C, ls, TS_WAIT_MS));
    uint32_t attempt = 0;
    uint64_t token = 0;
    ck_assert_uint_eq(lease_result(ls, lid, payload, &attempt, &token), 1);
    ck_assert_uint_ne(token, 0);
    ck_assert_str_eq(lid, id);
    ck_assert_str_eq(payload, "hello");
    ck_assert_uint_eq(attempt, 1);
    ck_assert_uint_eq(queue_info(q).leased, 1);

    ack_ok(id, token);
    q_queue_info qi = queue_info(q);
    ck_assert_uint_eq(qi.acked_total, 1);
    ck_assert_uint_eq(qi.leased + qi.ready + qi.delayed, 0);
    stop();
}
END_TEST

/* The owner's side of an Enqueue (run_enqueue on shard 1, stepped alone while the counting
 * allocator is armed) allocates the reply's buffer and nothing else: the task views, headers,
 * results and the reply's arrays are on the stack (they were six allocations). */
START_TEST(enqueue_owner_allocates_only_the_reply)
{
    start(2, Q_COMMIT_NEVER);
    char q[32], id[64];
    ts_queue_on(q, sizeof q, "far", 1);
    enqueue_ok(q, "first", id); /* the queue exists: what is counted is the steady state */
    ts_step_only(&C, 0);
    uint64_t sent0 = ts_mesh_sent(0);
    uint32_t sid = ts_enqueue_start(&C, q, "hello");
    ck_assert(ts_wait_for(&C, ts_cond_origin_sent, &sent0, TS_WAIT_MS));
    uint64_t allocs = ts_owner_run_counted(&C);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    ck_assert_uint_eq(queue_info(q).enqueued_total, 2);
    ck_assert_msg(allocs <= 1, "the owner's side of an Enqueue made %llu allocations",
                  (unsigned long long)allocs);
    stop();
}
END_TEST

/* The origin's side of an Enqueue, from its frames to the job sent to the owner (shard 0
 * stepped alone while the counting allocator is armed), in the steady state: the request's copy
 * and its decoded form share the job's one block (srv_job_decoded; they were two allocations).
 * The other three are the h2 stream, the gRPC call and the job taken from their caches (a cache
 * hit is counted: the fail-Nth walk may fail it). */
START_TEST(enqueue_origin_allocates_one_request_block)
{
    start(2, Q_COMMIT_NEVER);
    char q[32], id[64];
    ts_queue_on(q, sizeof q, "far", 1);
    enqueue_ok(q, "first", id); /* the queue, the caches and the buffers exist */
    enqueue_ok(q, "second", id);
    ts_step_only(&C, 0);
    uint64_t sent0 = ts_mesh_sent(0);
    ts_count_start();
    uint32_t sid = ts_enqueue_start(&C, q, "hello");
    ck_assert(ts_wait_for(&C, ts_cond_origin_sent, &sent0, TS_WAIT_MS));
    uint64_t allocs = ts_count_stop(NULL);
    ts_step_all(&C);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    ck_assert_uint_eq(queue_info(q).enqueued_total, 3);
    ck_assert_msg(allocs <= 4, "the origin's side of an Enqueue made %llu allocations",
                  (unsigned long long)allocs);
    stop();
}
END_TEST

START_TEST(malformed_body_invalid_argument)
{
    start(2, Q_COMMIT_NEVER);
    char q[32];
    ts_queue_on(q, sizeof q, "far", 1);
    /* EnqueueRequest.queue (field 1, length-delimited) claiming 100 bytes of a 3-byte body. */
    static const uint8_t bad[] = {0x0a, 0x64, 'a', 'b', 'c'};
    uint32_t sid = ts_open(&C, TS_PATH_ENQUEUE);
    ts_send_raw(&C, sid, bad, sizeof bad, true);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), PW_GRPC_INVALID_ARGUMENT);
    ck_assert_msg(strstr(ts_call_of(&C, sid)->message, "malformed") != NULL, "message: %s",
                  ts_call_of(&C, sid)->message);
    /* The same for a Lease (varint cut short), and the connection still serves. */
    static const uint8_t bad2[] = {0x10, 0xff};
    sid = ts_open(&C, TS_PATH_LEASE);
    ts_send_raw(&C, sid, bad2, sizeof bad2, true);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), PW_GRPC_INVALID_ARGUMENT);
    char id[64];
    enqueue_ok(q, "after", id);
    ck_assert_uint_eq(queue_info(q).enqueued_total, 1);
    stop();
}
END_TEST

START_TEST(lease_long_poll_woken_by_enqueue)
{
    start(2, Q_COMMIT_NEVER);
    char q[32], id[64], lid[64], payload[64];
    ts_queue_on(q, sizeof q, "far", 1);
    uint64_t t0 = rt_now_ns();
    uint32_t ls = ts_lease_start(&C, q, 1, 20000, 30000);
    ck_assert(ts_wait_for(&C, cond_parked, q, TS_WAIT_MS));
    ck_assert(!ts_call_of(&C, ls)->closed);
    enqueue_ok(q, "wake", id);
    ck_assert(ts_wait_closed(&C, ls, TS_WAIT_MS));
    ck_assert_uint_eq(lease_result(ls, lid, payload, NULL, NULL), 1);
    ck_assert_str_eq(lid, id);
    ck_assert_str_eq(payload, "wake");
    /* Woken by the Enqueue, not by its 20 s deadline. */
    ck_assert_uint_lt((rt_now_ns() - t0) / RT_NS_PER_MS, 20000);
    ck_assert(!parked(q));
    stop();
}
END_TEST

/* Waits for the next WorkResponse on `sid`. */
static bool work_next(uint32_t sid, pwm_ringq_v1_WorkResponse *m, pw_msg_arena *a);
static bool work_next(uint32_t sid, pwm_ringq_v1_WorkResponse *m, pw_msg_arena *a)
{
    if (!ts_wait_for(&C, ts_cond_msg_or_closed, &sid, TS_WAIT_MS)) return false;
    return ts_next_msg(&C, sid, &pwm_ringq_v1_WorkResponse_desc, m, a);
}

/* Sends `n` Credit requests on Work stream ws before any Subscribe (each answered
 * FAILED_PRECONDITION, a WorkResult with nothing leased or routed) and reads their answers.
 * Returns the server's allocations meanwhile (counting allocator armed around it). */
static uint64_t work_refused_credits(uint32_t ws, uint64_t first_id, int n)
{
    ts_count_start();
    for (int i = 0; i < n; i++) {
        pwm_ringq_v1_Credit cr = {.n = 1};
        pwm_ringq_v1_WorkRequest wr = {.request_id = first_id + (uint64_t)i,
                                       .kind_case = pwm_ringq_v1_WorkRequest_FIELD_credit,
                                       .credit = &cr};
        ts_send(&C, ws, &pwm_ringq_v1_WorkRequest_desc, &wr, false);
    }
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    for (int i = 0; i < n; i++) {
        pwm_ringq_v1_WorkResponse m;
        ck_assert(work_next(ws, &m, &a));
        ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_result);
        ck_assert_uint_eq(m.result->request_id, first_id + (uint64_t)i);
        ck_assert_uint_eq(m.result->code, Q_FAILED_PRECONDITION);
    }
    uint64_t allocs = ts_count_stop(NULL);
    pw_msg_arena_deinit(&a);
    return allocs;
}

/* A Work stream's answers are encoded in the session's own buffers, kept between answers: more
 * answers cost the server no more allocations per answer than the transport's own (each
 * answer used to allocate and free two encode buffers of its own). */
START_TEST(work_results_reuse_session_buffers)
{
    start(2, Q_COMMIT_NEVER);
    uint32_t ws = ts_open(&C, TS_PATH_WORK);
    (void)work_refused_credits(ws, 1, 4); /* warm: the session's buffers exist */
    uint64_t few = work_refused_credits(ws, 100, 4);
    uint64_t many = work_refused_credits(ws, 200, 12);
    /* 8 answers more: at most one allocation each (the copy the call's queue makes). */
    ck_assert_msg(many <= few + 8, "8 more answers: %llu allocations against %llu",
                  (unsigned long long)many, (unsigned long long)few);
    ts_rst(&C, ws, 0x8 /* CANCEL */);
    ck_assert(ts_wait_for(&C, cond_no_calls, NULL, TS_WAIT_MS));
    stop();
}
END_TEST

/* The answers to the requests of one read are encoded straight into the call's output, with
 * no allocation per answer (they used to be encoded in the session's scratch and copied into
 * the call's queue, an allocation there each), and leave in one DATA frame (one frame each
 * before pw_h2 framed a stream's submissions at the next output read). */
START_TEST(work_results_of_one_read_share_a_frame)
{
    start(2, Q_COMMIT_NEVER);
    uint32_t ws = ts_open(&C, TS_PATH_WORK);
    (void)work_refused_credits(ws, 1, 4); /* warm: the call's and the session's buffers exist */
    uint32_t frames0 = ts_call_of(&C, ws)->data_frames;
    uint64_t allocs = work_refused_credits(ws, 100, 12);
    uint32_t frames = ts_call_of(&C, ws)->data_frames - frames0;
    ck_assert_msg(frames == 1, "12 answers to one read came in %u DATA frames", frames);
    ck_assert_msg(allocs <= 2, "12 answers made %llu allocations", (unsigned long long)allocs);
    ts_rst(&C, ws, 0x8 /* CANCEL */);
    ck_assert(ts_wait_for(&C, cond_no_calls, NULL, TS_WAIT_MS));
    stop();
}
END_TEST

START_TEST(work_stream_delivery_and_ack)
{
    start(2, Q_COMMIT_NEVER);
    char q[32], id[64];
    ts_queue_on(q, sizeof q, "far", 1);
    uint32_t ws = ts_open(&C, TS_PATH_WORK);
    pw_pb_bytes queues[1] = {ts_str(q)};
    pwm_ringq_v1_Subscribe sub = {
        .queues = queues, .queues_count = 1, .credits = 4, .lease_ms = 30000};
    pwm_ringq_v1_WorkRequest wr = {
        .request_id = 1, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_subscribe, .subscribe = &sub};
    ts_send(&C, ws, &pwm_ringq_v1_WorkRequest_desc, &wr, false);
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pwm_ringq_v1_WorkResponse m;
    /* The subscription is answered (request 1, OK) once it is registered on the owner. */
    ck_assert(work_next(ws, &m, &a));
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_result);
    ck_assert_uint_eq(m.result->request_id, 1);
    ck_assert_uint_eq(m.result->code, 0);
    enqueue_ok(q, "work-me", id);
    ck_assert(work_next(ws, &m, &a));
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_task);
    ck_assert_int_eq((int)m.task->id.len, (int)strlen(id));
    ck_assert(memcmp(m.task->id.ptr, id, m.task->id.len) == 0);
    ck_assert(m.task->payload.len == 7 && memcmp(m.task->payload.ptr, "work-me", 7) == 0);
    ck_assert_uint_eq(queue_info(q).leased, 1);

    pw_pb_bytes ids[1] = {ts_str(id)};
    uint64_t toks[1] = {m.task->lease_token};
    ck_assert_uint_ne(toks[0], 0);
    pwm_ringq_v1_AckRequest ack = {
        .ids = ids, .ids_count = 1, .lease_tokens = toks, .lease_tokens_count = 1};
    pwm_ringq_v1_WorkRequest wa = {
        .request_id = 7, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_ack, .ack = &ack};
    ts_send(&C, ws, &pwm_ringq_v1_WorkRequest_desc, &wa, false);
    ck_assert(work_next(ws, &m, &a));
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_result);
    ck_assert_uint_eq(m.result->request_id, 7);
    ck_assert_uint_eq(m.result->code, 0);
    ck_assert_ptr_nonnull(m.result->ack);
    ck_assert_uint_eq(m.result->ack->results_count, 1);
    ck_assert_uint_eq(m.result->ack->results[0].code, 0);
    pw_msg_arena_deinit(&a);
    q_queue_info qi = queue_info(q);
    ck_assert_uint_eq(qi.acked_total, 1);
    ck_assert_uint_eq(qi.leased, 0);
    /* Half-close: the server ends the stream OK, and its registration on the owner goes. */
    ts_send_raw(&C, ws, NULL, 0, true);
    ck_assert(ts_wait_closed(&C, ws, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, ws), 0);
    ck_assert(ts_wait_for(&C, cond_no_waitq, q, TS_WAIT_MS));
    stop();
}
END_TEST

/* The cancelled Lease took nothing: `q` holds one ready task, none leased, and the next Lease
 * gets task `id` on its first attempt. */
static void assert_still_ready(const char *q, const char *id)
{
    q_queue_info qi = queue_info(q);
    ck_assert_uint_eq(qi.leased, 0);
    ck_assert_uint_eq(qi.ready, 1);
    uint32_t l2 = ts_lease_start(&C, q, 1, 0, 30000);
    ck_assert(ts_wait_closed(&C, l2, TS_WAIT_MS));
    char lid[64], payload[64];
    uint32_t attempt = 0;
    ck_assert_uint_eq(lease_result(l2, lid, payload, &attempt, NULL), 1);
    ck_assert_str_eq(lid, id);
    ck_assert_uint_eq(attempt, 1);
}

/* A Lease job held in the lane to its owner while the origin's call is reset: once released it
 * must not lease the ready task to a call that is gone (the task would sit leased, undelivered,
 * for its whole lease), and nothing it touches may be freed under it. */
START_TEST(cancel_while_job_in_flight)
{
    start(2, Q_COMMIT_NEVER);
    char q[32], id[64];
    ts_queue_on(q, sizeof q, "far", 1);
    enqueue_ok(q, "keep", id);
    ts_step_only(&C, 0);
    uint64_t sent0 = ts_mesh_sent(0);
    uint32_t ls = ts_lease_start(&C, q, 1, 0, 30000);
    /* Shard 0 decoded it and sent the job; shard 1 has not run it. */
    ck_assert(ts_wait_for(&C, ts_cond_origin_sent, &sent0, TS_WAIT_MS));
    ck_assert(!ts_call_of(&C, ls)->closed);
    ts_rst(&C, ls, 0x8 /* CANCEL */);
    /* Shard 0 ends the call; the job in the lane still holds its reference. */
    ck_assert(ts_wait_for(&C, cond_no_calls, NULL, TS_WAIT_MS));
    uint64_t ran1 = ts_mesh_received(1);
    ts_step_all(&C);
    ck_assert(ts_wait_for(&C, ts_cond_owner_ran, &ran1, TS_WAIT_MS));
    assert_still_ready(q, id);
    stop();
}
END_TEST

/* The same with the job parked on the owner (a long-poll) when the call is reset: the Enqueue
 * that wakes the queue answers the dead job without a task and the task stays ready. */
START_TEST(cancel_while_parked_on_owner)
{
    start(2, Q_COMMIT_NEVER);
    char q[32], id[64];
    ts_queue_on(q, sizeof q, "far", 1);
    uint32_t ls = ts_lease_start(&C, q, 1, 20000, 30000);
    ck_assert(ts_wait_for(&C, cond_parked, q, TS_WAIT_MS));
    ts_step_only(&C, 0);
    ts_rst(&C, ls, 0x8 /* CANCEL */);
    ck_assert(ts_wait_for(&C, cond_no_calls, NULL, TS_WAIT_MS));
    ck_assert(parked(q)); /* the owner has not heard of it */
    ts_step_all(&C);
    /* The Enqueue's run on the owner serves the wait list before its reply leaves. */
    enqueue_ok(q, "stay", id);
    ck_assert(!parked(q));
    assert_still_ready(q, id);
    stop();
}
END_TEST

/* ---- durable before visible ---- */

static const char *dq;      /* the queue under test */
static int commits_seen;    /* commit completions processed on its partition */
static int parked_at_first; /* whether the Lease was still parked at the first one */

static void on_committed_probe(q_log *log, void *ud, uint64_t durable)
{
    if (commits_seen++ == 0) parked_at_first = parked(dq);
    srv_part_serve_durable(ud); /* what the server's own handler does */
}

START_TEST(durable_before_visible)
{
    start(2, Q_COMMIT_ALWAYS);
    char q[32], id[64], lid[64], payload[64];
    ts_queue_on(q, sizeof q, "far", 1);
    dq = q;
    srv_part *sp = ts_part(q_part_of(q, strlen(q), srv_q.nparts));
    uint32_t ls = ts_lease_start(&C, q, 1, 20000, 30000);
    ck_assert(ts_wait_for(&C, cond_parked, q, TS_WAIT_MS));
    q_log_on_committed(q_part_log(sp->p), on_committed_probe, sp);
    uint32_t es = ts_enqueue_start(&C, q, "durable");
    /* Step by step: whenever the parked Lease has left its wait list, a commit completion
     * has been processed on the owner, and the Enqueue's record is below the durable end. */
    uint64_t deadline = rt_now_ns() + (uint64_t)TS_WAIT_MS * RT_NS_PER_MS;
    while (!(ts_call_of(&C, ls)->closed && ts_call_of(&C, es)->closed)) {
        ck_assert_msg(rt_now_ns() < deadline, "the exchange did not finish");
        bool moved = ts_round(&C);
        if (!parked(q)) ck_assert_msg(commits_seen > 0, "leased before any commit completed");
        if (!moved) ts_idle(&C);
    }
    ck_assert_int_eq(parked_at_first, 1);
    ck_assert_int_eq(ts_status(&C, es), 0);
    ck_assert_uint_eq(lease_result(ls, lid, payload, NULL, NULL), 1);
    ck_assert_str_eq(payload, "durable");
    (void)id;
    stop();
}
END_TEST

int main(void)
{
    ts_require_uring("test_srv_queue"); /* exits 77 (skip) without io_uring */
    Suite *s = suite_create("srv_queue");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, enqueue_lease_ack_across_shards);
    tcase_add_test(tc, enqueue_owner_allocates_only_the_reply);
    tcase_add_test(tc, enqueue_origin_allocates_one_request_block);
    tcase_add_test(tc, malformed_body_invalid_argument);
    tcase_add_test(tc, lease_long_poll_woken_by_enqueue);
    tcase_add_test(tc, work_stream_delivery_and_ack);
    tcase_add_test(tc, work_results_reuse_session_buffers);
    tcase_add_test(tc, work_results_of_one_read_share_a_frame);
    tcase_add_test(tc, cancel_while_job_in_flight);
    tcase_add_test(tc, cancel_while_parked_on_owner);
    tcase_add_test(tc, durable_before_visible);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
