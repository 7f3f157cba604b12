/* The fail-Nth allocation walk of the in-process server: see ts_walk.h. */
#include "ts_walk.h"

/* test_srv_util.h's flag (extern there): one for the whole test binary, so that the scripted
 * client's code compiled here (ts_walk_outcome's waits) and in the test's file both disarm the
 * counter while the walk has it armed. */
int ts_armed = 0;

ts_walk_tally ts_walk_calls;

static ts_server walk_server;

bool ts_walk_outcome(ts_client *c, uint32_t sid, bool strict, const char *what)
{
    bool closed = ts_wait_closed(c, sid, ts_walk_call_ms(strict));
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
        if (conn_gone) ts_walk_calls.conn_closed++;
        else ts_walk_calls.reset++;
        return false;
    }
    ck_assert_msg(k->status == 0 || k->status == PW_GRPC_RESOURCE_EXHAUSTED, "%s: status %d (%s)",
                  what, k->status, k->message);
    if (k->status == 0) ts_walk_calls.ok++;
    else ts_walk_calls.exhausted++;
    return k->status == 0;
}

bool ts_walk_next(ts_client *c, uint32_t sid, bool strict, const pw_msg_desc *d, void *m,
                  pw_msg_arena *a, const char *what)
{
    bool got = ts_wait_for(c, ts_cond_msg_or_closed, &sid, ts_walk_call_ms(strict));
    ck_assert_msg(got, "%s: no answer and the stream did not end", what);
    return ts_next_msg(c, sid, d, m, a);
}

void ts_walk_drain_queue(ts_client *c, const char *q)
{
    uint32_t k = q_part_of(q, strlen(q), srv_q.nparts);
    uint64_t deadline = rt_now_ns() + (uint64_t)TS_WAIT_MS * RT_NS_PER_MS;
    for (;;) {
        q_queue_info qi;
        q_err e;
        q_status st = q_part_get_queue(ts_part(k)->p, q, strlen(q), srv_q_now_ms(), &qi, &e);
        if (st == Q_NOT_FOUND || qi.ready + qi.delayed + qi.leased == 0) return;
        ck_assert_msg(rt_now_ns() < deadline,
                      "queue %s never drained: ready=%llu leased=%llu delayed=%llu", q,
                      (unsigned long long)qi.ready, (unsigned long long)qi.leased,
                      (unsigned long long)qi.delayed);
        uint32_t sid = ts_lease_start(c, q, 16, 1000, 30000);
        ck_assert(ts_walk_outcome(c, sid, true, "drain lease"));
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
            ck_assert(ts_walk_outcome(c, as, true, "drain ack"));
        }
        pw_msg_arena_deinit(&a);
    }
}

/* One run with allocation `nth` failing (0: none, the dry run). Returns the armed allocations
 * counted during the exchange. */
static uint64_t walk_run(const ts_walk *w, uint64_t nth)
{
    ts_armed = 0;
    rt_alloc_test_start(nth);
    rt_alloc_test_arm(0);
    ck_assert_int_eq(ts_server_start(&walk_server, w->nshards, w->nparts, Q_COMMIT_ALWAYS), 0);
    w->prepare(w->ctx);
    ts_client c, c2;
    ts_client_open(&c, &walk_server, 0);
    /* The handshake is not walked: only the exchange. */
    ck_assert(ts_wait_for(&c, ts_cond_ready, NULL, TS_WAIT_MS));
    ts_armed = 1;
    rt_alloc_test_arm(1);
    w->exchange(&c, w->ctx, nth == 0);
    rt_alloc_test_arm(0);
    ts_armed = 0;
    uint64_t count = rt_alloc_test_count();
    if (nth) {
        ts_client_open(&c2, &walk_server, 0);
        w->follow_up(&c2, w->ctx);
        ts_client_close(&c2);
    }
    ts_client_close(&c);
    ts_server_stop(&walk_server);
    ck_assert_msg(rt_alloc_test_live() == 0, "step %llu: %lld blocks leaked",
                  (unsigned long long)nth, (long long)rt_alloc_test_live());
    rt_alloc_test_stop();
    return count;
}

uint64_t ts_walk_all(const ts_walk *w, uint64_t *walked)
{
    uint64_t total = walk_run(w, 0);
    ck_assert_uint_gt(total, 0);
    ck_assert_uint_lt(total, TS_WALK_MAX);
    const char *from = getenv("SRV_WALK_FROM");
    bool verbose = getenv("SRV_WALK_VERBOSE") != NULL;
    uint64_t failed = 0;
    for (uint64_t n = from ? strtoull(from, NULL, 10) : 1; n <= total; n++) {
        if (verbose)
            fprintf(stderr, "walk step %llu/%llu\n", (unsigned long long)n,
                    (unsigned long long)total);
        uint64_t t0 = rt_now_ns();
        walk_run(w, n);
        if (verbose)
            fprintf(stderr, "  %llu ms\n", (unsigned long long)((rt_now_ns() - t0) / RT_NS_PER_MS));
        failed++;
    }
    if (walked) *walked = failed;
    return total;
}
