/* server/srv_work_serve: a Work delivery pass is bounded. After a backlog a pass used to lease
 * and encode every ready task the streams had credits for in one call (one mesh handler of up to
 * 4 x 256 tasks: the 5-18 ms shard turns of s10-stalls); now it stops after
 * WORK_SERVE_PASS_TASKS_MAX tasks and a repoke of the next stream serves the rest from a later mesh poll,
 * and the streams take one claim each in turn. Counted on one shard, ringqd --threads 1's shape. */
#include "server/srv_work_int.h"
#include "test_srv_util.h"
#include "ts_main.h"

static ts_server S;
static ts_client C;

/* The backlog: more than two passes' worth, fewer than one stream's credits. */
#define BACKLOG_TASKS (4u * WORK_SERVE_PASS_TASKS_MAX)
#define STREAM_CREDITS 1000u

static void start(void)
{
    ck_assert_int_eq(ts_server_start(&S, 1, 4, Q_COMMIT_NEVER), 0);
    ts_client_open(&C, &S, 0);
}

static void stop(void)
{
    ts_client_close(&C);
    ts_server_stop(&S);
}

/* Enqueues n tasks in one request on q and waits for its OK. */
static void enqueue_many(const char *q, uint32_t n)
{
    pwm_ringq_v1_TaskSpec *t = calloc(n, sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (uint32_t i = 0; i < n; i++) t[i].payload = ts_str("a task of the backlog");
    pwm_ringq_v1_EnqueueRequest rq = {.queue = ts_str(q), .tasks = t, .tasks_count = n};
    uint32_t sid = ts_call_start(&C, TS_PATH_ENQUEUE, &pwm_ringq_v1_EnqueueRequest_desc, &rq);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    free(t);
}

/* Opens a Work stream on q with `credits` and reads the answer to its Subscribe. */
static uint32_t work_open(const char *q, uint32_t credits, pw_msg_arena *a)
{
    uint32_t ws = ts_open(&C, TS_PATH_WORK);
    pw_pb_bytes queues[1] = {ts_str(q)};
    pwm_ringq_v1_Subscribe sub = {
        .queues = queues, .queues_count = 1, .credits = credits, .lease_ms = 30000};
    pwm_ringq_v1_WorkRequest wr = {
        .request_id = 1, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_subscribe, .subscribe = &sub};
    ts_send(&C, ws, &pwm_ringq_v1_WorkRequest_desc, &wr, false);
    ck_assert(ts_wait_for(&C, ts_cond_msg_or_closed, &ws, TS_WAIT_MS));
    pwm_ringq_v1_WorkResponse m;
    ck_assert(ts_next_msg(&C, ws, &pwm_ringq_v1_WorkResponse_desc, &m, a));
    ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_result);
    ck_assert_uint_eq(m.result->code, 0);
    return ws;
}

/* Reads every task the streams ws[0..n) have been sent, into got[i]. */
static void read_tasks(const uint32_t *ws, int n, uint32_t *got, pw_msg_arena *a)
{
    for (int i = 0; i < n; i++) {
        pwm_ringq_v1_WorkResponse m;
        while (ts_next_msg(&C, ws[i], &pwm_ringq_v1_WorkResponse_desc, &m, a)) {
            ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_task);
            got[i]++;
        }
    }
}

typedef struct {
    const uint32_t *ws;
    int n;
    uint32_t *got;
    pw_msg_arena *a;
    uint32_t want;
} tasks_arg;

static bool cond_all_tasks(ts_client *c, const void *arg)
{
    (void)c;
    const tasks_arg *t = arg;
    read_tasks(t->ws, t->n, t->got, t->a);
    uint32_t sum = 0;
    for (int i = 0; i < t->n; i++) sum += t->got[i];
    return sum >= t->want;
}

static srv_waitq *waitq_of(const char *q)
{
    uint32_t k = q_part_of(q, strlen(q), srv_q.nparts);
    srv_waitq *wq = srv_part_waitq(ts_part(k), q, (uint32_t)strlen(q), false);
    ck_assert_ptr_nonnull(wq);
    return wq;
}

/* A stream subscribing to a queue with a backlog of BACKLOG_TASKS ready tasks and the credits for
 * all of them: every task arrives, no pass delivered more than WORK_SERVE_PASS_TASKS_MAX, and
 * the passes were cut (the rest served from a repoke). Before: one pass of all 512 tasks. */
START_TEST(a_delivery_pass_is_bounded)
{
    char q[32];
    pw_msg_arena a;
    start();
    pw_msg_arena_init_heap(&a, 4096, 1 << 22);
    ts_queue_on(q, sizeof q, "pass", 0);
    enqueue_many(q, BACKLOG_TASKS);
    uint32_t ws = work_open(q, STREAM_CREDITS, &a);
    uint32_t got = 0;
    tasks_arg t = {&ws, 1, &got, &a, BACKLOG_TASKS};
    ck_assert(ts_wait_for(&C, cond_all_tasks, &t, TS_WAIT_MS));
    ck_assert_uint_eq(got, BACKLOG_TASKS);
    srv_waitq *wq = waitq_of(q);
    ck_assert_msg(wq->serve_pass_max <= WORK_SERVE_PASS_TASKS_MAX,
                  "one delivery pass leased %u tasks (bound %u)", wq->serve_pass_max,
                  WORK_SERVE_PASS_TASKS_MAX);
    ck_assert_uint_ge(wq->serve_cuts, BACKLOG_TASKS / WORK_SERVE_PASS_TASKS_MAX - 1);
    ts_rst(&C, ws, 0x8 /* CANCEL */);
    pw_msg_arena_deinit(&a);
    stop();
}
END_TEST

/* Three streams with credits for the whole backlog: the passes give each a claim in turn and the
 * next pass starts where the last one stopped, so each gets a third of it, to within one claim.
 * Before: a cut pass started again from the head of the list, so the two streams registered last
 * took every task and the first got none (0, 256, 256). */
#define TURN_STREAMS 3
START_TEST(a_pass_serves_its_streams_in_turn)
{
    char q[32];
    pw_msg_arena a;
    start();
    pw_msg_arena_init_heap(&a, 4096, 1 << 22);
    ts_queue_on(q, sizeof q, "turn", 0);
    uint32_t ws[TURN_STREAMS];
    for (int i = 0; i < TURN_STREAMS; i++) ws[i] = work_open(q, STREAM_CREDITS, &a);
    /* All registered (each Subscribe answered on the owner): a backlog now arrives at once. */
    enqueue_many(q, BACKLOG_TASKS);
    uint32_t got[TURN_STREAMS] = {0};
    tasks_arg t = {ws, TURN_STREAMS, got, &a, BACKLOG_TASKS};
    ck_assert(ts_wait_for(&C, cond_all_tasks, &t, TS_WAIT_MS));
    uint32_t sum = 0, fair = BACKLOG_TASKS / TURN_STREAMS;
    for (int i = 0; i < TURN_STREAMS; i++) sum += got[i];
    ck_assert_uint_eq(sum, BACKLOG_TASKS);
    for (int i = 0; i < TURN_STREAMS; i++)
        ck_assert_msg(got[i] + WORK_DELIVER_BATCH >= fair && got[i] <= fair + WORK_DELIVER_BATCH,
                      "stream %d got %u of %u tasks (%u, %u, %u)", i, got[i], BACKLOG_TASKS, got[0],
                      got[1], got[2]);
    ck_assert_uint_le(waitq_of(q)->serve_pass_max, WORK_SERVE_PASS_TASKS_MAX);
    for (int i = 0; i < TURN_STREAMS; i++) ts_rst(&C, ws[i], 0x8 /* CANCEL */);
    pw_msg_arena_deinit(&a);
    stop();
}
END_TEST

/* A stream with few credits between two with many: its short claim leaves the pass between two
 * claims' worth, and the next claim is cut to the room left, so no pass passes its bound. Before:
 * 64 + 10 + 64 = 138 tasks in one pass. */
START_TEST(a_pass_stops_at_its_bound_after_a_short_claim)
{
    char q[32];
    pw_msg_arena a;
    start();
    pw_msg_arena_init_heap(&a, 4096, 1 << 22);
    ts_queue_on(q, sizeof q, "short", 0);
    const uint32_t credits[3] = {STREAM_CREDITS, 10, STREAM_CREDITS};
    uint32_t ws[3];
    for (int i = 0; i < 3; i++) ws[i] = work_open(q, credits[i], &a);
    enqueue_many(q, BACKLOG_TASKS);
    uint32_t got[3] = {0};
    tasks_arg t = {ws, 3, got, &a, BACKLOG_TASKS};
    ck_assert(ts_wait_for(&C, cond_all_tasks, &t, TS_WAIT_MS));
    ck_assert_uint_eq(got[0] + got[1] + got[2], BACKLOG_TASKS);
    ck_assert_uint_eq(got[1], 10);
    ck_assert_msg(waitq_of(q)->serve_pass_max <= WORK_SERVE_PASS_TASKS_MAX,
                  "one delivery pass leased %u tasks (bound %u)", waitq_of(q)->serve_pass_max,
                  WORK_SERVE_PASS_TASKS_MAX);
    for (int i = 0; i < 3; i++) ts_rst(&C, ws[i], 0x8 /* CANCEL */);
    pw_msg_arena_deinit(&a);
    stop();
}
END_TEST

int main(void)
{
    ts_require_uring("test_srv_work_pass"); /* exits 77 (skip) without io_uring */
    Suite *s = suite_create("srv_work_pass");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_delivery_pass_is_bounded);
    tcase_add_test(tc, a_pass_serves_its_streams_in_turn);
    tcase_add_test(tc, a_pass_stops_at_its_bound_after_a_short_claim);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
