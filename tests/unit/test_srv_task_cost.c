/* server/: what a task costs on the Enqueue / Work delivery / Ack path, counted, on one shard in
 * the steady state (as ringqd --threads 1 runs under bench/cpu_per_task.sh):
 * - heap round trips: the counting allocator (core/rt_alloc) counts every allocation the server
 *   makes (a cache's hit included: the fail-Nth walk may fail it) and, apart, those that
 *   reached the C library (rt_alloc_test_heap_count): what the per-shard caches save is the
 *   difference;
 * - reads of a queue's state by a Work delivery pass (srv_waitq.serve_probes).
 * Each bound names what is left, and fails with the cost a cut removed put back. */
#include "queue/q_part_rec.h"
#include "test_srv_util.h"
#include "ts_main.h"

static ts_server S;
static ts_client C;

/* Tasks the steady state is measured over, after WARM_TASKS that fill the caches. */
#define WARM_TASKS 4
#define COUNTED_TASKS 8
/* Work streams on one queue in the delivery pass case: the bench's workers. */
#define SERVE_STREAMS 4
/* Per task in the steady state (task_exchange_heap_round_trips): allocations the server makes
 * (16 before s9-cpu6's cuts), and those that reach the heap (10 before; 3 before s10-cpu1 put the
 * Enqueue reply's gRPC prefix into the reply's own buffer: no `pending` storage per stream; 2
 * before s12-fastcpu gave the delivery's batch buffer back to the shard's cache when its blob
 * goes). */
#define SRV_ALLOCS_PER_TASK_MAX 9u
#define SRV_HEAP_PER_TASK_MAX 1u
/* The same exchange with the task enqueued on a Queue.EnqueueStream (the suite's ringq-stream
 * producers): heap allocations per task, 4 before s12-fastcpu's per-shard answer buffers and
 * answer-order items (the item, the owner's answer, the origin's answer and the delivery's
 * batch buffer, which now goes back to the cache when the socket is done with it). */
#define SRV_STREAM_HEAP_PER_TASK_MAX 0u

static void start(int nshards)
{
    ck_assert_int_eq(ts_server_start(&S, nshards, 4, Q_COMMIT_NEVER), 0);
    ts_client_open(&C, &S, 0);
}

static void stop(void)
{
    ts_client_close(&C);
    ts_server_stop(&S);
}

/* Starts one shard and names a queue `prefix`N that it owns into q; inits arena a (the test's
 * decode arena, freed by the test). */
static void start_on_queue(char *q, size_t cap, const char *prefix, pw_msg_arena *a)
{
    start(1);
    ts_queue_on(q, cap, prefix, 0);
    pw_msg_arena_init_heap(a, 4096, 1 << 20);
}

static void work_next(uint32_t sid, pwm_ringq_v1_WorkResponse *m, pw_msg_arena *a)
{
    ck_assert(ts_wait_for(&C, ts_cond_msg_or_closed, &sid, TS_WAIT_MS));
    ck_assert(ts_next_msg(&C, sid, &pwm_ringq_v1_WorkResponse_desc, m, a));
}

/* Opens a Work stream on queue q with room for every task of the case, and reads the answer to
 * its Subscribe. */
static uint32_t work_open(const char *q, pw_msg_arena *a)
{
    uint32_t ws = ts_open(&C, TS_PATH_WORK);
    pw_pb_bytes queues[1] = {ts_str(q)};
    pwm_ringq_v1_Subscribe sub = {
        .queues = queues, .queues_count = 1, .credits = 64, .lease_ms = 30000};
    pwm_ringq_v1_WorkRequest wr = {
        .request_id = 1, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_subscribe, .subscribe = &sub};
    ts_send(&C, ws, &pwm_ringq_v1_WorkRequest_desc, &wr, false);
    pwm_ringq_v1_WorkResponse m;
    work_next(ws, &m, a);
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_result);
    ck_assert_uint_eq(m.result->code, 0);
    return ws;
}

/* One task end to end: a unary Enqueue answered OK, its delivery on the Work stream, the
 * stream's Ack of it answered OK (request_id `rid`). */
static void one_task(const char *q, uint32_t ws, uint64_t rid, pw_msg_arena *a)
{
    uint32_t sid = ts_enqueue_start(&C, q, "a task of the steady state");
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    pwm_ringq_v1_WorkResponse m;
    work_next(ws, &m, a);
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_task);
    pw_pb_bytes ids[1] = {m.task->id};
    uint64_t toks[1] = {m.task->lease_token};
    pwm_ringq_v1_AckRequest ack = {
        .ids = ids, .ids_count = 1, .lease_tokens = toks, .lease_tokens_count = 1};
    pwm_ringq_v1_WorkRequest wa = {
        .request_id = rid, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_ack, .ack = &ack};
    ts_send(&C, ws, &pwm_ringq_v1_WorkRequest_desc, &wa, false);
    work_next(ws, &m, a);
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_result);
    ck_assert_uint_eq(m.result->request_id, rid);
    ck_assert_uint_eq(m.result->code, 0);
}

/* The whole exchange of a task on one shard, in the steady state: every allocation the server
 * makes is counted (cache hits too), and those that reach the heap are bounded. Gone from the
 * heap: the leased tasks' views (a calloc per delivery), the Enqueue's decoded request block (a
 * malloc per call, now from the shard's cache) and the HTTP/2 node of each referenced reply
 * and batch (two per task, now inside the stream), the Work stream's answer's pending bytes (the
 * open stream keeps their storage) and the session's output buffer at each drained turn (two
 * per task: a connection with calls open keeps it), the delivery's batch buffer (back to the
 * shard's cache when the socket is done with it). Left, one per task: the Enqueue's reply
 * buffer (handed to the socket by reference). */
START_TEST(task_exchange_heap_round_trips)
{
    char q[32];
    pw_msg_arena a;
    start_on_queue(q, sizeof q, "heap", &a);
    uint32_t ws = work_open(q, &a);
    uint64_t rid = 100;
    for (int i = 0; i < WARM_TASKS; i++) one_task(q, ws, rid++, &a);
    ts_count_start();
    for (int i = 0; i < COUNTED_TASKS; i++) one_task(q, ws, rid++, &a);
    uint64_t heap, allocs = ts_count_stop(&heap);
    pw_msg_arena_deinit(&a);
    double per_task = (double)heap / COUNTED_TASKS;
    fprintf(stderr, "task_exchange_heap_round_trips: %.2f allocations per task, %.2f on the heap\n",
            (double)allocs / COUNTED_TASKS, per_task);
    ck_assert_msg(allocs <= (uint64_t)SRV_ALLOCS_PER_TASK_MAX * COUNTED_TASKS,
                  "%.2f allocations per task (at most %u)", (double)allocs / COUNTED_TASKS,
                  SRV_ALLOCS_PER_TASK_MAX);
    ck_assert_msg(heap <= (uint64_t)SRV_HEAP_PER_TASK_MAX * COUNTED_TASKS,
                  "%.2f heap allocations per task (at most %u)", per_task, SRV_HEAP_PER_TASK_MAX);
    ts_rst(&C, ws, 0x8 /* CANCEL */);
    stop();
}
END_TEST

/* One task on the EnqueueStream `es` (request `rid`, answered OK in order), then delivered on
 * ws and acked there as one_task does. */
static void one_stream_task(const char *q, uint32_t es, uint32_t ws, uint64_t rid, pw_msg_arena *a)
{
    pwm_ringq_v1_TaskSpec t = {.payload = ts_str("a task of the steady state")};
    pwm_ringq_v1_EnqueueStreamRequest r = {.request_id = rid, .queue = ts_str(q), .task = &t};
    ts_send(&C, es, &pwm_ringq_v1_EnqueueStreamRequest_desc, &r, false);
    ck_assert(ts_wait_for(&C, ts_cond_msg_or_closed, &es, TS_WAIT_MS));
    pwm_ringq_v1_EnqueueStreamResponse e;
    ck_assert(ts_next_msg(&C, es, &pwm_ringq_v1_EnqueueStreamResponse_desc, &e, a));
    ck_assert_uint_eq(e.request_id, rid);
    ck_assert_uint_eq(e.code, 0);
    ck_assert_uint_eq(e.results_count, 1);
    pwm_ringq_v1_WorkResponse m;
    work_next(ws, &m, a);
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_task);
    pw_pb_bytes ids[1] = {m.task->id};
    uint64_t toks[1] = {m.task->lease_token};
    pwm_ringq_v1_AckRequest ack = {
        .ids = ids, .ids_count = 1, .lease_tokens = toks, .lease_tokens_count = 1};
    pwm_ringq_v1_WorkRequest wa = {
        .request_id = rid, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_ack, .ack = &ack};
    ts_send(&C, ws, &pwm_ringq_v1_WorkRequest_desc, &wa, false);
    work_next(ws, &m, a);
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_result);
    ck_assert_uint_eq(m.result->request_id, rid);
    ck_assert_uint_eq(m.result->code, 0);
}

/* The exchange of task_exchange_heap_round_trips with the task enqueued on an EnqueueStream:
 * the stream's answers (the owner's encoded results, the origin's answer around them) come
 * from the shard's cached answer buffers and their places in the answer order from its cached
 * items, so none of them reaches the heap in the steady state. */
START_TEST(stream_task_exchange_heap_round_trips)
{
    char q[32];
    pw_msg_arena a;
    start_on_queue(q, sizeof q, "sheap", &a);
    uint32_t ws = work_open(q, &a);
    uint32_t es = ts_open(&C, "/ringq.v1.Queue/EnqueueStream");
    uint64_t rid = 100;
    for (int i = 0; i < WARM_TASKS; i++) one_stream_task(q, es, ws, rid++, &a);
    ts_count_start();
    for (int i = 0; i < COUNTED_TASKS; i++) one_stream_task(q, es, ws, rid++, &a);
    uint64_t heap, allocs = ts_count_stop(&heap);
    pw_msg_arena_deinit(&a);
    double per_task = (double)heap / COUNTED_TASKS;
    fprintf(stderr,
            "stream_task_exchange_heap_round_trips: %.2f allocations per task, %.2f on the heap\n",
            (double)allocs / COUNTED_TASKS, per_task);
    ck_assert_msg(heap <= (uint64_t)SRV_STREAM_HEAP_PER_TASK_MAX * COUNTED_TASKS,
                  "%.2f heap allocations per task (at most %u)", per_task,
                  SRV_STREAM_HEAP_PER_TASK_MAX);
    ts_rst(&C, es, 0x8 /* CANCEL */);
    ts_rst(&C, ws, 0x8 /* CANCEL */);
    stop();
}
END_TEST

/* Work acks sent in one write, each its own WorkRequest with one id (as a worker acks the
 * tasks of a delivery one by one): the bench's b64 point sends up to 64 of them at a time. */
#define ACKS_IN_ONE_WRITE 8

/* ACK records in the partition's log from offset `from` on. */
static uint32_t ack_records_since(q_log *log, uint64_t from)
{
    q_iter it;
    q_rec rec;
    uint32_t n = 0;
    q_iter_init(&it, log, from, false);
    while (q_iter_next(&it, &rec) == 1) n += rec.type == Q_RT_ACK;
    return n;
}

/* The acks a Work stream receives in one input pass are started together: one fan-out, one job
 * to the partition, one q_part_ack and so one ACK record for all of them (one record, one job
 * and one fan-out per ack before), and still one WorkResult per request, in request order,
 * each with its own id's result. */
START_TEST(acks_of_one_input_pass_append_one_record)
{
    char q[32];
    pw_msg_arena a;
    start_on_queue(q, sizeof q, "acks", &a);
    uint32_t ws = work_open(q, &a);
    char ids[ACKS_IN_ONE_WRITE][Q_ID_STR_BYTES];
    size_t id_len[ACKS_IN_ONE_WRITE];
    uint64_t toks[ACKS_IN_ONE_WRITE];
    for (int i = 0; i < ACKS_IN_ONE_WRITE; i++) {
        uint32_t sid = ts_enqueue_start(&C, q, "acked with the others");
        ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
        ck_assert_int_eq(ts_status(&C, sid), 0);
        pwm_ringq_v1_WorkResponse m;
        work_next(ws, &m, &a);
        ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_task);
        ck_assert_uint_lt(m.task->id.len, Q_ID_STR_BYTES);
        memcpy(ids[i], m.task->id.ptr, m.task->id.len);
        id_len[i] = m.task->id.len;
        toks[i] = m.task->lease_token;
    }
    q_log *log = q_part_log(ts_part(q_part_of(q, strlen(q), srv_q.nparts))->p);
    uint64_t from = q_log_next(log);
    for (int i = 0; i < ACKS_IN_ONE_WRITE; i++) { /* queued: the next wait writes them at once */
        pw_pb_bytes id = {(const uint8_t *)ids[i], id_len[i]};
        pwm_ringq_v1_AckRequest ack = {
            .ids = &id, .ids_count = 1, .lease_tokens = &toks[i], .lease_tokens_count = 1};
        pwm_ringq_v1_WorkRequest wa = {.request_id = 500 + (uint64_t)i,
                                       .kind_case = pwm_ringq_v1_WorkRequest_FIELD_ack,
                                       .ack = &ack};
        ts_send(&C, ws, &pwm_ringq_v1_WorkRequest_desc, &wa, false);
    }
    for (int i = 0; i < ACKS_IN_ONE_WRITE; i++) {
        pwm_ringq_v1_WorkResponse m;
        work_next(ws, &m, &a);
        ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_result);
        ck_assert_uint_eq(m.result->request_id, 500 + (uint64_t)i);
        ck_assert_uint_eq(m.result->code, 0);
        ck_assert_ptr_nonnull(m.result->ack);
        ck_assert_uint_eq(m.result->ack->results_count, 1);
        ck_assert_uint_eq(m.result->ack->results[0].code, 0);
        ck_assert_uint_eq(m.result->ack->results[0].id.len, id_len[i]);
        ck_assert(memcmp(m.result->ack->results[0].id.ptr, ids[i], id_len[i]) == 0);
    }
    uint32_t records = ack_records_since(log, from);
    fprintf(stderr, "acks_of_one_input_pass_append_one_record: %u ACK records for %d acks\n",
            records, ACKS_IN_ONE_WRITE);
    ck_assert_msg(records == 1, "%u ACK records for %d acks of one write (1 expected)", records,
                  ACKS_IN_ONE_WRITE);
    ts_rst(&C, ws, 0x8 /* CANCEL */);
    pw_msg_arena_deinit(&a);
    stop();
}
END_TEST

/* The same task acked twice in one write (two Acks a stream's pass settles as one batch, then
 * the same id twice in one Ack): the first ack answers OK, every repeat NOT_FOUND ("acked
 * earlier"), so the stream's count of tasks it holds is lowered once, not twice. */
START_TEST(repeated_ack_in_one_pass_is_acked_once)
{
    char q[32];
    pw_msg_arena a;
    start_on_queue(q, sizeof q, "dup", &a);
    uint32_t ws = work_open(q, &a);
    uint32_t sid = ts_enqueue_start(&C, q, "acked twice");
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    pwm_ringq_v1_WorkResponse m;
    work_next(ws, &m, &a);
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_task);
    char idbuf[Q_ID_STR_BYTES];
    ck_assert_uint_lt(m.task->id.len, sizeof idbuf);
    memcpy(idbuf, m.task->id.ptr, m.task->id.len);
    pw_pb_bytes id[2] = {{(const uint8_t *)idbuf, m.task->id.len},
                         {(const uint8_t *)idbuf, m.task->id.len}};
    uint64_t tok[2] = {m.task->lease_token, m.task->lease_token};
    for (uint32_t i = 0; i < 2; i++) { /* queued: the next wait writes both at once */
        pwm_ringq_v1_AckRequest ack = {
            .ids = id, .ids_count = i + 1, .lease_tokens = tok, .lease_tokens_count = i + 1};
        pwm_ringq_v1_WorkRequest wa = {
            .request_id = 700 + i, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_ack, .ack = &ack};
        ts_send(&C, ws, &pwm_ringq_v1_WorkRequest_desc, &wa, false);
    }
    uint32_t codes[3], n = 0;
    for (uint32_t i = 0; i < 2; i++) {
        work_next(ws, &m, &a);
        ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_result);
        ck_assert_uint_eq(m.result->request_id, 700 + i);
        ck_assert_uint_eq(m.result->code, 0);
        ck_assert_ptr_nonnull(m.result->ack);
        ck_assert_uint_eq(m.result->ack->results_count, i + 1);
        for (size_t k = 0; k < m.result->ack->results_count; k++)
            codes[n++] = m.result->ack->results[k].code;
    }
    ck_assert_uint_eq(codes[0], 0);           /* the first ack */
    ck_assert_uint_eq(codes[1], Q_NOT_FOUND); /* the same id in the next request */
    ck_assert_uint_eq(codes[2], Q_NOT_FOUND); /* and again in that request */
    ts_rst(&C, ws, 0x8 /* CANCEL */);
    pw_msg_arena_deinit(&a);
    stop();
}
END_TEST

static bool cond_task_on(ts_client *c, const void *arg)
{
    const uint32_t *ws = arg;
    for (int i = 0; i < SERVE_STREAMS; i++)
        if (ts_cond_msg_or_closed(c, &ws[i])) return true;
    return false;
}

/* Enqueues one task and reads its delivery on whichever of the streams ws got it. */
static void enqueue_delivered(const char *q, const uint32_t *ws, pw_msg_arena *a)
{
    uint32_t sid = ts_enqueue_start(&C, q, "one task, four streams");
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    ck_assert(ts_wait_for(&C, cond_task_on, ws, TS_WAIT_MS));
    for (int i = 0; i < SERVE_STREAMS; i++) {
        pwm_ringq_v1_WorkResponse m;
        if (!ts_next_msg(&C, ws[i], &pwm_ringq_v1_WorkResponse_desc, &m, a)) continue;
        ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_task);
        return;
    }
    ck_abort_msg("no stream got the task");
}

/* An Enqueue to a queue that SERVE_STREAMS Work streams subscribe to (each with credits left):
 * the pass that delivers the task reads the queue's state twice (the claim, then "nothing
 * left"), however many streams follow the one served: "nothing left" is the queue's state, not
 * a stream's (one more read per stream after it before: 5 with 4 streams). */
START_TEST(delivery_pass_reads_the_queue_once_per_claim)
{
    char q[32];
    pw_msg_arena a;
    start_on_queue(q, sizeof q, "probe", &a);
    uint32_t ws[SERVE_STREAMS];
    for (int i = 0; i < SERVE_STREAMS; i++) ws[i] = work_open(q, &a);
    uint32_t k = q_part_of(q, strlen(q), srv_q.nparts);
    srv_waitq *wq = srv_part_waitq(ts_part(k), q, (uint32_t)strlen(q), false);
    ck_assert_ptr_nonnull(wq);
    /* The first task settles the streams' registrations (each stream's credits poke the
     * queue once after its Subscribe is answered). */
    enqueue_delivered(q, ws, &a);
    uint64_t before = wq->serve_probes;
    enqueue_delivered(q, ws, &a);
    uint64_t probes = wq->serve_probes - before;
    /* 2; a housekeeping pass in the window (a sync's completion serves the queue) adds one
     * read now, one per stream before. */
    ck_assert_msg(probes >= 2 && probes <= 3,
                  "one Enqueue's delivery read the queue's state %llu times",
                  (unsigned long long)probes);
    pw_msg_arena_deinit(&a);
    for (int i = 0; i < SERVE_STREAMS; i++) ts_rst(&C, ws[i], 0x8 /* CANCEL */);
    stop();
}
END_TEST

int main(void)
{
    ts_require_uring("test_srv_task_cost"); /* exits 77 (skip) without io_uring */
    Suite *s = suite_create("srv_task_cost");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, task_exchange_heap_round_trips);
    tcase_add_test(tc, stream_task_exchange_heap_round_trips);
    tcase_add_test(tc, delivery_pass_reads_the_queue_once_per_claim);
    tcase_add_test(tc, acks_of_one_input_pass_append_one_record);
    tcase_add_test(tc, repeated_ack_in_one_pass_is_acked_once);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
