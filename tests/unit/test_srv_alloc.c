/* Allocation failure across a whole Enqueue / Lease / Ack / Work exchange of the in-process
 * server (test_srv_util.h: two shards stepped on this thread, scripted HTTP/2 + gRPC over a
 * socketpair), walked by ts_walk.h (the fail-Nth walk: a dry run counts the server's
 * allocations, then a fresh server per N with allocation N failing; no crash, no hang, no
 * leak). Here:
 *   - every call closes, in time, with OK (and then the full expected answer), or
 *     RESOURCE_EXHAUSTED, or the connection is closed: no call hangs;
 *   - with the counter disarmed, a follow-up exchange on a new connection succeeds in full on
 *     the same server state, and every task the failed exchange enqueued is leased and acked
 *     (a task leased but never delivered comes back once its lease ends; no partition or
 *     stream is stuck).
 * SRV_WALK_FROM=N starts the walk at N (to rerun one failing step); SRV_WALK_VERBOSE=1 prints
 * each step. */
#include "ts_walk.h"
#include "ts_main.h"

/* Leases of a failed run, ms: short, so a task whose delivery failed comes back to the
 * follow-up quickly (an Ack after expiry is tolerated there). The dry run and the follow-up
 * lease for STRICT_LEASE_MS, so that on a slow machine their Acks always come first. */
#define WALK_LEASE_MS 50u
#define STRICT_LEASE_MS 60000u
/* The long-poll's wait: a failed run whose Enqueue enqueued nothing waits it out, so short; the
 * dry run and the follow-up wait long enough for their Enqueue on a slow machine. */
#define WALK_WAIT_MS 200u
#define STRICT_WAIT_MS 5000u

typedef struct xres {
    int enq_ok; /* tasks whose Enqueue answered OK */
    int acked;  /* tasks acked OK */
} xres;

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
    if (ts_walk_outcome(c, sid, strict, "enqueue")) {
        pwm_ringq_v1_EnqueueResponse rs;
        ck_assert(ts_next_msg(c, sid, &pwm_ringq_v1_EnqueueResponse_desc, &rs, &a));
        ck_assert_uint_eq(rs.results_count, 1);
        x.enq_ok++;
    }
    sid = ls;
    size_t leased = 0;
    if (ts_walk_outcome(c, sid, strict, "lease")) {
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
        if (ts_walk_outcome(c, sid, strict, "ack")) {
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
    bool subscribed = ts_walk_next(c, ws, strict, &pwm_ringq_v1_WorkResponse_desc, &m, &a, "work");
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
    bool enq_b = ts_walk_outcome(c, sid, strict, "enqueue b");
    x.enq_ok += enq_b;
    if (subscribed && enq_b) {
        /* Tasks pushed: walk-b, and walk-a too when its lease ran out before its Ack. */
        bool got = false;
        while (!got &&
               ts_walk_next(c, ws, strict, &pwm_ringq_v1_WorkResponse_desc, &m, &a, "work")) {
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
            while (ts_walk_next(c, ws, strict, &pwm_ringq_v1_WorkResponse_desc, &m, &a, "work")) {
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
    (void)ts_walk_outcome(c, ws, strict, "work");
out:
    pw_msg_arena_deinit(&a);
    return x;
}

/* The walk's runs: the exchange on queue "walk-N" of shard 1; the follow-up's on a queue of
 * the same partition (a stuck partition shows), then the drain of the failed run's queue. */
typedef struct walk_names {
    char q[32], q2[32];
} walk_names;

static void prepare_names(void *ctx)
{
    walk_names *n = ctx;
    ts_queue_on(n->q, sizeof n->q, "walk", 1);
    for (int i = 0;; i++) {
        snprintf(n->q2, sizeof n->q2, "again-%d", i);
        if (q_part_of(n->q2, strlen(n->q2), srv_q.nparts) ==
            q_part_of(n->q, strlen(n->q), srv_q.nparts))
            break;
    }
}

static void run_exchange(ts_client *c, void *ctx, bool strict)
{
    (void)exchange(c, ((walk_names *)ctx)->q, strict);
}

static void follow_up(ts_client *c, void *ctx)
{
    walk_names *n = ctx;
    (void)exchange(c, n->q2, true);
    ts_walk_drain_queue(c, n->q);
}

START_TEST(walk_exchange)
{
    walk_names names;
    ts_walk w = {.nshards = 2,
                 .nparts = 2,
                 .ctx = &names,
                 .prepare = prepare_names,
                 .exchange = run_exchange,
                 .follow_up = follow_up};
    uint64_t failed = 0;
    uint64_t total = ts_walk_all(&w, &failed);
    const ts_walk_tally *t = &ts_walk_calls;
    printf(
        "walked %llu allocations of %llu; calls of failed runs: %llu OK, %llu RESOURCE_EXHAUSTED, "
        "%llu reset ENHANCE_YOUR_CALM, %llu on a closed connection\n",
        (unsigned long long)failed, (unsigned long long)total, (unsigned long long)t->ok,
        (unsigned long long)t->exhausted, (unsigned long long)t->reset,
        (unsigned long long)t->conn_closed);
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
    return ts_run_suite(s);
}
