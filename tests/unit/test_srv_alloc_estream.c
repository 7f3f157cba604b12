/* Allocation failure across a Queue.EnqueueStream exchange of the in-process server
 * (test_srv_util.h: two shards stepped on this thread, scripted HTTP/2 + gRPC over a
 * socketpair), with core/rt_alloc's counting allocator — the walk of test_srv_alloc.c for the
 * stream (server/srv_queue_estream.c and the in-order window, server/srv_ordered.c).
 *
 * The exchange: one stream carrying ESTREAM_REQS single-task requests alternating between a
 * queue owned by each shard (answers cross shards and must come back in order), then a
 * half-close with the last one. A dry run counts the server's allocations; then, for every N from 1 to that
 * count, a fresh server runs it with allocation N failing and the test checks:
 *   - nothing crashes; the stream ends in time (OK, RESOURCE_EXHAUSTED, reset, or the
 *     connection closed);
 *   - every answer that came is OK or RESOURCE_EXHAUSTED, in request order (request_id 0 only
 *     for a request that could not be decoded);
 *   - with the counter disarmed, a strict exchange on a new connection succeeds in full and
 *     every task of the failed run is leased and acked (nothing stuck);
 *   - no block allocated since the start is still live after teardown.
 * SRV_WALK_FROM=N starts the walk at N. */
#include "server/srv_queue_rpc.h"
#include "test_srv_util.h"

#define ESTREAM_REQS 4u
#define WALK_MAX 4000u
#define WALK_CALL_MS 3000u

static ts_server S;

static bool cond_msg_or_closed(ts_client *c, const void *arg)
{
    ts_call *k = ts_call_of(c, *(const uint32_t *)arg);
    size_t have = buf_size(&k->data) - k->taken;
    if (k->closed || c->eof) return true;
    if (have < 5) return false;
    const uint8_t *p = buf_begin(&k->data) + k->taken;
    size_t n = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4];
    return have >= 5 + n;
}

/* The exchange on c: requests to qa and qb in turn. Returns the answers that were OK. */
static int exchange(ts_client *c, const char *qa, const char *qb, bool strict)
{
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    uint32_t sid = ts_open(c, "/ringq.v1.Queue/EnqueueStream");
    for (uint32_t i = 0; i < ESTREAM_REQS; i++) {
        pwm_ringq_v1_TaskSpec t = {.payload = ts_str("walk")};
        pwm_ringq_v1_EnqueueStreamRequest r = {
            .request_id = 100 + i, .queue = ts_str(i % 2 ? qb : qa), .task = &t};
        ts_send(c, sid, &pwm_ringq_v1_EnqueueStreamRequest_desc, &r, i + 1 == ESTREAM_REQS);
    }
    int ok = 0;
    uint32_t next = 0;
    for (;;) {
        bool got = ts_wait_for(c, cond_msg_or_closed, &sid, strict ? TS_WAIT_MS : WALK_CALL_MS);
        ck_assert_msg(got, "estream: no answer and the stream did not end");
        pwm_ringq_v1_EnqueueStreamResponse m;
        if (!ts_next_msg(c, sid, &pwm_ringq_v1_EnqueueStreamResponse_desc, &m, &a)) break;
        ck_assert_uint_lt(next, ESTREAM_REQS);
        ck_assert(m.request_id == 100 + next || (!strict && m.request_id == 0));
        if (strict) ck_assert_uint_eq(m.code, 0);
        ck_assert(m.code == 0 || m.code == PW_GRPC_RESOURCE_EXHAUSTED);
        if (m.code == 0) {
            ck_assert_uint_eq(m.results_count, 1);
            ck_assert_uint_eq(m.credits, SRV_ESTREAM_CREDITS);
            ok++;
        }
        next++;
    }
    ck_assert(ts_wait_closed(c, sid, strict ? TS_WAIT_MS : WALK_CALL_MS) || c->eof);
    ts_call *k = ts_call_of(c, sid);
    if (strict) {
        ck_assert_int_eq(k->status, 0);
        ck_assert_uint_eq(next, ESTREAM_REQS);
    } else if (k->closed && !k->reset && !c->eof && !c->goaway) {
        ck_assert(k->status == 0 || k->status == PW_GRPC_RESOURCE_EXHAUSTED);
        if (k->status == 0) ck_assert_uint_eq(next, ESTREAM_REQS); /* OK: every answer */
    }
    pw_msg_arena_deinit(&a);
    return ok;
}

/* Leases and acks every task of q until its partition holds none of it. */
static void drain_queue(ts_client *c, const char *q)
{
    uint32_t k = q_part_of(q, strlen(q), srv_q.nparts);
    uint64_t deadline = rt_now_ns() + (uint64_t)TS_WAIT_MS * RT_NS_PER_MS;
    for (;;) {
        q_queue_info qi;
        q_err e;
        q_status st = q_part_get_queue(ts_part(k)->p, q, strlen(q), srv_q_now_ms(), &qi, &e);
        if (st == Q_NOT_FOUND || qi.ready + qi.delayed + qi.leased == 0) return;
        ck_assert_msg(rt_now_ns() < deadline, "queue %s never drained", q);
        uint32_t sid = ts_lease_start(c, q, 16, 1000, 30000);
        ck_assert(ts_wait_closed(c, sid, TS_WAIT_MS) && ts_status(c, sid) == 0);
        pw_msg_arena a;
        pw_msg_arena_init_heap(&a, 4096, 1 << 20);
        pwm_ringq_v1_LeaseResponse rs;
        ck_assert(ts_next_msg(c, sid, &pwm_ringq_v1_LeaseResponse_desc, &rs, &a));
        if (rs.tasks_count > 0) {
            pw_pb_bytes ids[16];
            uint64_t toks[16];
            for (size_t i = 0; i < rs.tasks_count; i++)
                ids[i] = rs.tasks[i].id, toks[i] = rs.tasks[i].lease_token;
            uint32_t as = ts_ack_start(c, ids, toks, rs.tasks_count);
            ck_assert(ts_wait_closed(c, as, TS_WAIT_MS) && ts_status(c, as) == 0);
        }
        pw_msg_arena_deinit(&a);
    }
}

static uint64_t run(uint64_t nth)
{
    ts_armed = 0;
    rt_alloc_test_start(nth);
    rt_alloc_test_arm(0);
    ck_assert_int_eq(ts_server_start(&S, 2, 2, Q_COMMIT_ALWAYS), 0);
    char qa[32], qb[32];
    ts_queue_on(qa, sizeof qa, "esa", 0);
    ts_queue_on(qb, sizeof qb, "esb", 1);
    ts_client c, c2;
    ts_client_open(&c, &S, 0);
    ck_assert(ts_wait_for(&c, ts_cond_ready, NULL, TS_WAIT_MS));
    ts_armed = 1;
    rt_alloc_test_arm(1);
    exchange(&c, qa, qb, nth == 0);
    rt_alloc_test_arm(0);
    ts_armed = 0;
    uint64_t count = rt_alloc_test_count();
    if (nth) {
        ts_client_open(&c2, &S, 0);
        ck_assert_int_eq(exchange(&c2, qa, qb, true), (int)ESTREAM_REQS);
        drain_queue(&c2, qa);
        drain_queue(&c2, qb);
        ts_client_close(&c2);
    }
    ts_client_close(&c);
    ts_server_stop(&S);
    ck_assert_msg(rt_alloc_test_live() == 0, "step %llu: %lld blocks leaked",
                  (unsigned long long)nth, (long long)rt_alloc_test_live());
    rt_alloc_test_stop();
    return count;
}

START_TEST(walk_estream)
{
    uint64_t total = run(0);
    ck_assert_uint_gt(total, 0);
    ck_assert_uint_lt(total, WALK_MAX);
    const char *from = getenv("SRV_WALK_FROM");
    uint64_t n = from ? strtoull(from, NULL, 10) : 1;
    for (; n <= total; n++) run(n);
    printf("walked %llu allocations of an EnqueueStream exchange\n", (unsigned long long)total);
}
END_TEST

int main(void)
{
    ts_require_uring("test_srv_alloc_estream"); /* exits 77 (skip) without io_uring */
    Suite *s = suite_create("srv_alloc_estream");
    TCase *tc = tcase_create("walk");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, walk_estream);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
