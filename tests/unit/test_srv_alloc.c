/* Allocation failure across a whole Enqueue / Lease / Ack / Work exchange of the in-process
 * server (test_srv_util.h: two shards stepped on this thread, scripted HTTP/2 + gRPC over a
 * socketpair), with core/rt_alloc's counting allocator.
 *
 * A dry run counts the server's allocations during the exchange (the scripted client disarms
 * the counter while it works, so only server code is numbered). Then, for every N from 1 to
 * that count, a fresh server runs the exchange with allocation N failing and the test checks:
 *   - nothing crashes (Check's fork mode; the san build adds ASan and UBSan);
 *   - every call closes, in time, with OK (and then the full expected answer), or
 *     RESOURCE_EXHAUSTED, or the connection is closed: no call hangs;
 *   - with the counter disarmed, a follow-up exchange on a new connection succeeds in full on
 *     the same server state, and every task the failed exchange enqueued is leased and acked
 *     (a task leased but never delivered comes back once its lease ends; no partition or
 *     stream is stuck);
 *   - after teardown no block allocated since the start is still live (no leak).
 * SRV_WALK_FROM=N starts the walk at N (to rerun one failing step); SRV_WALK_VERBOSE=1 prints
 * each step. */
#include "test_srv_util.h"

/* Leases of a failed run, ms: short, so a task whose delivery failed comes back to the
 * follow-up quickly (an Ack after expiry is tolerated there). The dry run and the follow-up
 * lease for STRICT_LEASE_MS, so that on a slow machine their Acks always come first. */
#define WALK_LEASE_MS 50u
#define STRICT_LEASE_MS 60000u
/* The long-poll's wait: a failed run whose Enqueue enqueued nothing waits it out, so short; the
 * dry run and the follow-up wait long enough for their Enqueue on a slow machine. */
#define WALK_WAIT_MS 200u
#define STRICT_WAIT_MS 5000u
/* Upper bound on the allocations of one exchange: the walk must not run for ever if a change
 * makes the exchange allocate per byte. */
#define WALK_MAX 4000u
/* How long a failed run may take to answer a call, ms (the dry run gets TS_WAIT_MS). */
#define WALK_CALL_MS 3000u

static ts_server S;

/* How the calls of failed runs ended, for the summary line. */
static struct {
    uint64_t ok, exhausted, reset, conn_closed;
} tally;

typedef struct xres {
    int enq_ok; /* tasks whose Enqueue answered OK */
    int acked;  /* tasks acked OK */
} xres;

/* A call's outcome in a failed run: OK, RESOURCE_EXHAUSTED, or the connection gone. Returns
 * true when it ended OK. */
static bool outcome(ts_client *c, uint32_t sid, bool strict, const char *what)
{
    bool closed = ts_wait_closed(c, sid, strict ? TS_WAIT_MS : WALK_CALL_MS);
    ck_assert_msg(closed, "%s: no answer (eof %d goaway %d headers %d, server conns %u)", what,
                  c->eof, c->goaway, ts_call_of(c, sid)->headers,
                  srv_local_conns(ts_shard(c->s, c->shard)));
    ts_call *k = ts_call_of(c, sid);
    if (strict) {
        ck_assert_msg(k->status == 0, "%s: status %d (%s)", what, k->status, k->message);
        return true;
    }
    if (!k->closed || k->status < 0) {
        /* The connection failed (GOAWAY INTERNAL_ERROR), or the stream was reset because its
         * answer could not be queued: with ENHANCE_YOUR_CALM, RESOURCE_EXHAUSTED to a gRPC
         * client. */
        bool conn_gone = c->eof || c->goaway;
        ck_assert_msg(conn_gone || k->reset, "%s: closed without status", what);
        if (!conn_gone)
            ck_assert_msg(k->rst_code == 0xb /* ENHANCE_YOUR_CALM */, "%s: reset with code %u",
                          what, k->rst_code);
        if (conn_gone) tally.conn_closed++;
        else tally.reset++;
        return false;
    }
    ck_assert_msg(k->status == 0 || k->status == PW_GRPC_RESOURCE_EXHAUSTED, "%s: status %d (%s)",
                  what, k->status, k->message);
    if (k->status == 0) tally.ok++;
    else tally.exhausted++;
    return k->status == 0;
}

/* The next WorkResponse of stream `ws`, or false when the stream ended (or, in a failed run,
 * nothing came in time). */
static bool work_next(ts_client *c, uint32_t ws, bool strict, pwm_ringq_v1_WorkResponse *m,
                      pw_msg_arena *a)
{
    /* Every Work request is answered, or the stream ends: never a silent drop. */
    bool got = ts_wait_for(c, ts_cond_msg_or_closed, &ws, strict ? TS_WAIT_MS : WALK_CALL_MS);
    ck_assert_msg(got, "work: no answer and the stream did not end");
    if (ts_next_msg(c, ws, &pwm_ringq_v1_WorkResponse_desc, m, a)) return true;
    return false;
}

static void ack_req(pwm_ringq_v1_AckRequest *rq, pw_pb_bytes *id, const char *s,
                    const uint64_t *token)
{
    *id = ts_str(s);
    *rq = (pwm_ringq_v1_AckRequest){
        .ids = id, .ids_count = 1, .lease_tokens = token, .lease_tokens_count = 1};
}

/* A Lease long-poll is parked on the owner (or its call already ended). */
typedef struct park_wait {
    const char *q;
    uint32_t sid;
} park_wait;
static bool cond_parked_or_closed(ts_client *c, const void *arg)
{
    const park_wait *pw = arg;
    uint32_t k = q_part_of(pw->q, strlen(pw->q), srv_q.nparts);
    srv_waitq *wq = srv_part_waitq(ts_part(k), pw->q, (uint32_t)strlen(pw->q), false);
    return (wq && wq->head) || ts_cond_closed(c, &pw->sid);
}

/* The exchange: a Lease long-poll parked on the owner and woken by an Enqueue, the task's Ack,
 * then a Work stream that subscribes, gets an enqueued task pushed and acks it on the stream.
 * strict: every step must succeed (dry run, follow-up). */
static xres exchange(ts_client *c, const char *q, bool strict)
{
    xres x = {0, 0};
    uint32_t lease_ms = strict ? STRICT_LEASE_MS : WALK_LEASE_MS;
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    char id[64] = "";
    uint64_t token = 0; /* the lease token of the task in id */

    /* Long-poll: a failed run's Enqueue may enqueue nothing, then the Lease waits it out. */
    uint32_t ls = ts_lease_start(c, q, 10, strict ? STRICT_WAIT_MS : WALK_WAIT_MS, lease_ms);
    park_wait pw = {q, ls};
    bool parked = ts_wait_for(c, cond_parked_or_closed, &pw, TS_WAIT_MS);
    ck_assert_msg(parked, "lease: neither parked nor answered");
    if (strict) ck_assert(!ts_call_of(c, ls)->closed);
    uint32_t sid = ts_enqueue_start(c, q, "walk-a");
    if (outcome(c, sid, strict, "enqueue")) {
        pwm_ringq_v1_EnqueueResponse rs;
        ck_assert(ts_next_msg(c, sid, &pwm_ringq_v1_EnqueueResponse_desc, &rs, &a));
        ck_assert_uint_eq(rs.results_count, 1);
        x.enq_ok++;
    }
    sid = ls;
    size_t leased = 0;
    if (outcome(c, sid, strict, "lease")) {
        pwm_ringq_v1_LeaseResponse rs;
        ck_assert(ts_next_msg(c, sid, &pwm_ringq_v1_LeaseResponse_desc, &rs, &a));
        leased = rs.tasks_count;
        /* An Enqueue answered RESOURCE_EXHAUSTED after its append (its reply could not be
         * encoded) still enqueued: like a reply lost on the network, the caller cannot tell;
         * idempotency keys are the remedy. So at most the one task attempted. */
        ck_assert_uint_le(leased, 1);
        if (strict) ck_assert_uint_eq(leased, 1);
        if (leased) {
            ck_assert(rs.tasks[0].payload.len == 6 &&
                      memcmp(rs.tasks[0].payload.ptr, "walk-a", 6) == 0);
            snprintf(id, sizeof id, "%.*s", (int)rs.tasks[0].id.len,
                     (const char *)rs.tasks[0].id.ptr);
            token = rs.tasks[0].lease_token;
        }
    }
    if (leased) {
        pw_pb_bytes ids[1] = {ts_str(id)};
        sid = ts_ack_start(c, ids, &token, 1);
        if (outcome(c, sid, strict, "ack")) {
            pwm_ringq_v1_AckResponse rs;
            ck_assert(ts_next_msg(c, sid, &pwm_ringq_v1_AckResponse_desc, &rs, &a));
            ck_assert_uint_eq(rs.results_count, 1);
            if (strict) ck_assert_uint_eq(rs.results[0].code, 0);
            x.acked += rs.results[0].code == 0;
        }
    }

    /* Work: subscribe, a task pushed, acked on the stream, half-close. */
    if (c->eof) goto out;
    uint32_t ws = ts_open(c, TS_PATH_WORK);
    pw_pb_bytes queues[1] = {ts_str(q)};
    pwm_ringq_v1_Subscribe sub = {
        .queues = queues, .queues_count = 1, .credits = 4, .lease_ms = lease_ms};
    pwm_ringq_v1_WorkRequest wr = {
        .request_id = 1, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_subscribe, .subscribe = &sub};
    ts_send(c, ws, &pwm_ringq_v1_WorkRequest_desc, &wr, false);
    pwm_ringq_v1_WorkResponse m;
    bool subscribed = work_next(c, ws, strict, &m, &a);
    if (subscribed) {
        ck_assert_uint_eq(m.kind_case, pwm_ringq_v1_WorkResponse_FIELD_result);
        /* request_id 0: the request could not even be decoded (out of memory) */
        ck_assert(m.result->request_id == 1 || (!strict && m.result->request_id == 0));
        if (strict) ck_assert_uint_eq(m.result->code, 0);
        subscribed = m.result->code == 0;
        if (!subscribed) ck_assert_uint_eq(m.result->code, PW_GRPC_RESOURCE_EXHAUSTED);
    }
    if (c->eof) goto out;
    sid = ts_enqueue_start(c, q, "walk-b");
    bool enq_b = outcome(c, sid, strict, "enqueue b");
    x.enq_ok += enq_b;
    if (subscribed && enq_b) {
        /* Tasks pushed: walk-b, and walk-a too when its lease ran out before its Ack. */
        bool got = false;
        while (!got && work_next(c, ws, strict, &m, &a)) {
            if (m.kind_case != pwm_ringq_v1_WorkResponse_FIELD_task) continue;
            bool is_b = m.task->payload.len == 6 && memcmp(m.task->payload.ptr, "walk-b", 6) == 0;
            if (strict) ck_assert(is_b);
            snprintf(id, sizeof id, "%.*s", (int)m.task->id.len, (const char *)m.task->id.ptr);
            token = m.task->lease_token;
            got = is_b;
        }
        ts_call *k = ts_call_of(c, ws);
        if (strict) ck_assert(got);
        else if (!got) /* the stream must have ended (RESOURCE_EXHAUSTED) or the connection */
            ck_assert_msg(k->closed || c->eof, "work: task neither delivered nor stream ended");
        if (got && !k->closed) {
            pw_pb_bytes idb;
            pwm_ringq_v1_AckRequest ack;
            ack_req(&ack, &idb, id, &token);
            pwm_ringq_v1_WorkRequest wa = {
                .request_id = 7, .kind_case = pwm_ringq_v1_WorkRequest_FIELD_ack, .ack = &ack};
            ts_send(c, ws, &pwm_ringq_v1_WorkRequest_desc, &wa, false);
            while (work_next(c, ws, strict, &m, &a)) {
                if (m.kind_case != pwm_ringq_v1_WorkResponse_FIELD_result) continue;
                ck_assert(m.result->request_id == 7 || (!strict && m.result->request_id == 0));
                if (strict) ck_assert_uint_eq(m.result->code, 0);
                if (m.result->code == 0 && m.result->ack && m.result->ack->results_count == 1)
                    x.acked += m.result->ack->results[0].code == 0;
                else ck_assert_uint_eq(m.result->code, PW_GRPC_RESOURCE_EXHAUSTED);
                break;
            }
        }
    }
    ts_send_raw(c, ws, NULL, 0, true);
    (void)outcome(c, ws, strict, "work");
out:
    pw_msg_arena_deinit(&a);
    return x;
}

/* After a failed run, every task is eventually leased (and acked) by a plain Lease loop, and
 * the partition ends with nothing ready, delayed or leased. */
static void drain_queue(ts_client *c, const char *q)
{
    uint32_t k = q_part_of(q, strlen(q), srv_q.nparts);
    uint64_t deadline = rt_now_ns() + (uint64_t)TS_WAIT_MS * RT_NS_PER_MS;
    for (;;) {
        q_queue_info qi;
        q_err e;
        q_status st = q_part_get_queue(ts_part(k)->p, q, strlen(q), srv_q_now_ms(), &qi, &e);
        if (st == Q_NOT_FOUND || qi.ready + qi.delayed + qi.leased == 0) return;
        ck_assert_msg(rt_now_ns() < deadline,
                      "queue never drained: ready=%llu leased=%llu delayed=%llu",
                      (unsigned long long)qi.ready, (unsigned long long)qi.leased,
                      (unsigned long long)qi.delayed);
        uint32_t sid = ts_lease_start(c, q, 16, 1000, 30000);
        ck_assert(outcome(c, sid, true, "drain lease"));
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
            ck_assert(outcome(c, as, true, "drain ack"));
        }
        pw_msg_arena_deinit(&a);
    }
}

/* One run with allocation `nth` failing (0: none). Returns the armed allocations counted. */
static uint64_t run(uint64_t nth)
{
    ts_armed = 0;
    rt_alloc_test_start(nth);
    rt_alloc_test_arm(0);
    ck_assert_int_eq(ts_server_start(&S, 2, 2, Q_COMMIT_ALWAYS), 0);
    char q[32], q2[32];
    ts_queue_on(q, sizeof q, "walk", 1);
    /* The follow-up's queue lives in the same partition: a stuck partition shows. */
    for (int n = 0;; n++) {
        snprintf(q2, sizeof q2, "again-%d", n);
        if (q_part_of(q2, strlen(q2), srv_q.nparts) == q_part_of(q, strlen(q), srv_q.nparts)) break;
    }
    ts_client c, c2;
    ts_client_open(&c, &S, 0);
    /* The handshake is not walked: only the exchange. */
    ck_assert(ts_wait_for(&c, ts_cond_ready, NULL, TS_WAIT_MS));
    ts_armed = 1;
    rt_alloc_test_arm(1);
    exchange(&c, q, nth == 0);
    rt_alloc_test_arm(0);
    ts_armed = 0;
    uint64_t count = rt_alloc_test_count();
    if (nth) {
        ts_client_open(&c2, &S, 0);
        exchange(&c2, q2, true);
        drain_queue(&c2, q);
        ts_client_close(&c2);
    }
    ts_client_close(&c);
    ts_server_stop(&S);
    ck_assert_msg(rt_alloc_test_live() == 0, "step %llu: %lld blocks leaked",
                  (unsigned long long)nth, (long long)rt_alloc_test_live());
    rt_alloc_test_stop();
    return count;
}

START_TEST(walk_exchange)
{
    uint64_t total = run(0);
    ck_assert_uint_gt(total, 0);
    ck_assert_uint_lt(total, WALK_MAX);
    const char *from = getenv("SRV_WALK_FROM");
    bool verbose = getenv("SRV_WALK_VERBOSE") != NULL;
    uint64_t failed = 0;
    for (uint64_t n = from ? strtoull(from, NULL, 10) : 1; n <= total; n++) {
        if (verbose)
            fprintf(stderr, "walk step %llu/%llu\n", (unsigned long long)n,
                    (unsigned long long)total);
        uint64_t t0 = rt_now_ns();
        run(n);
        if (verbose)
            fprintf(stderr, "  %llu ms\n", (unsigned long long)((rt_now_ns() - t0) / RT_NS_PER_MS));
        failed++;
    }
    printf(
        "walked %llu allocations of %llu; calls of failed runs: %llu OK, %llu RESOURCE_EXHAUSTED, "
        "%llu reset ENHANCE_YOUR_CALM, %llu on a closed connection\n",
        (unsigned long long)failed, (unsigned long long)total, (unsigned long long)tally.ok,
        (unsigned long long)tally.exhausted, (unsigned long long)tally.reset,
        (unsigned long long)tally.conn_closed);
}
END_TEST

int main(void)
{
    ts_require_uring("test_srv_alloc"); /* exits 77 (skip) without io_uring */
    Suite *s = suite_create("srv_alloc");
    TCase *tc = tcase_create("walk");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, walk_exchange);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
