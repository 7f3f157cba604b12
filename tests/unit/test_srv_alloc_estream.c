/* Allocation failure across a Queue.EnqueueStream exchange of the in-process server
 * (test_srv_util.h: two shards stepped on this thread, scripted HTTP/2 + gRPC over a
 * socketpair), walked by ts_walk.h as test_srv_alloc.c walks the unary calls: the stream
 * (server/srv_queue_estream.c and the in-order window, server/srv_ordered.c).
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
 * SRV_WALK_FROM=N starts the walk at N; SRV_WALK_VERBOSE=1 prints each step. */
#include "server/srv_queue_rpc.h"
#include "ts_walk.h"
#include "ts_main.h"

#define ESTREAM_REQS 4u
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
        bool got = ts_wait_for(c, ts_cond_msg_or_closed, &sid, ts_walk_call_ms(strict));
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
    ck_assert(ts_wait_closed(c, sid, ts_walk_call_ms(strict)) || c->eof);
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

/* The walk's runs: a queue owned by each shard, for the failed run and its follow-up (a strict
 * exchange on the same queues: every answer OK), then the drain of both queues. */
typedef struct walk_names {
    char qa[32], qb[32];
} walk_names;

static void prepare_names(void *ctx)
{
    walk_names *n = ctx;
    ts_queue_on(n->qa, sizeof n->qa, "esa", 0);
    ts_queue_on(n->qb, sizeof n->qb, "esb", 1);
}

static void run_exchange(ts_client *c, void *ctx, bool strict)
{
    walk_names *n = ctx;
    (void)exchange(c, n->qa, n->qb, strict);
}

static void follow_up(ts_client *c, void *ctx)
{
    walk_names *n = ctx;
    ck_assert_int_eq(exchange(c, n->qa, n->qb, true), (int)ESTREAM_REQS);
    ts_walk_drain_queue(c, n->qa);
    ts_walk_drain_queue(c, n->qb);
}

START_TEST(walk_estream)
{
    walk_names names;
    ts_walk w = {.nshards = 2,
                 .nparts = 2,
                 .ctx = &names,
                 .prepare = prepare_names,
                 .exchange = run_exchange,
                 .follow_up = follow_up};
    uint64_t total = ts_walk_all(&w, NULL);
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
    return ts_run_suite(s);
}
