/* server/srv_queue_ack: an Ack fanned out across partitions, driven in process (two shards
 * stepped on this thread, four partitions, scripted HTTP/2 + gRPC: test_srv_util.h).
 *
 *   - the ids of one Ack are grouped by partition, each share acked by its owner, and the
 *     answers come back in the request's order, with ids that name no partition answered on the
 *     origin;
 *   - a partition's share costs the server one allocation (its job): the share is a view into
 *     the fan-out and the owner's arrays are on its stack, counted with core/rt_alloc's counting
 *     allocator as the difference between an Ack spread over four partitions and one of as many
 *     ids on one partition. */
#include "test_srv_util.h"
#include "ts_main.h"

#define ACK_PARTS 4u /* partitions of the test server: one queue on each */
#define ACK_REPEATS \
    3u /* allocation counts taken, the smallest kept (a stray timer or commit
                        * on the shards must not fail the bound) */

static ts_server S;
static ts_client C;
static char Q[ACK_PARTS][32]; /* Q[p]: a queue on partition p */

static void start(void)
{
    ck_assert_int_eq(ts_server_start(&S, 2, ACK_PARTS, Q_COMMIT_NEVER), 0);
    ts_client_open(&C, &S, 0);
    bool found[ACK_PARTS] = {false};
    uint32_t left = ACK_PARTS;
    for (int n = 0; n < 10000 && left; n++) {
        char name[32];
        snprintf(name, sizeof name, "ack-%d", n);
        uint32_t p = q_part_of(name, strlen(name), srv_q.nparts);
        if (found[p]) continue;
        found[p] = true;
        left--;
        snprintf(Q[p], sizeof Q[p], "%s", name);
    }
    ck_assert_uint_eq(left, 0);
}

static void stop(void)
{
    ts_client_close(&C);
    ts_server_stop(&S);
}

static void enqueue(const char *q)
{
    uint32_t sid = ts_enqueue_start(&C, q, "x");
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
}

/* Leases `n` tasks of q (all there are): their ids into ids[k..k+n) (ids_mem holds the bytes)
 * and their lease tokens into tokens[]. */
static void lease(const char *q, uint32_t n, pw_pb_bytes *ids, char (*ids_mem)[Q_ID_STR_BYTES],
                  uint64_t *tokens)
{
    uint32_t sid = ts_lease_start(&C, q, n, 0, 60000);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    ck_assert_int_eq(ts_status(&C, sid), 0);
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pwm_ringq_v1_LeaseResponse rs;
    ck_assert(ts_next_msg(&C, sid, &pwm_ringq_v1_LeaseResponse_desc, &rs, &a));
    ck_assert_uint_eq(rs.tasks_count, n);
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_uint_lt(rs.tasks[i].id.len, Q_ID_STR_BYTES);
        memcpy(ids_mem[i], rs.tasks[i].id.ptr, rs.tasks[i].id.len);
        ids_mem[i][rs.tasks[i].id.len] = 0;
        ids[i] = ts_str(ids_mem[i]);
        tokens[i] = rs.tasks[i].lease_token;
    }
    pw_msg_arena_deinit(&a);
}

/* Acks ids[0..n) and checks each answer, in order: want[i] (a q_status) for ids[i]. Returns the
 * server's allocations during the call when `count` (the counting allocator armed only around
 * it; the scripted client's own are not counted), else 0. */
static uint64_t ack(const pw_pb_bytes *ids, const uint64_t *tokens, size_t n, const q_status *want,
                    bool count)
{
    if (count) {
        rt_alloc_test_start(0);
        ts_armed = 1;
    }
    uint32_t sid = ts_ack_start(&C, ids, tokens, n);
    ck_assert(ts_wait_closed(&C, sid, TS_WAIT_MS));
    uint64_t allocs = 0;
    if (count) {
        allocs = rt_alloc_test_count();
        ts_armed = 0;
        rt_alloc_test_stop();
    }
    ck_assert_int_eq(ts_status(&C, sid), 0);
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    pwm_ringq_v1_AckResponse rs;
    ck_assert(ts_next_msg(&C, sid, &pwm_ringq_v1_AckResponse_desc, &rs, &a));
    ck_assert_uint_eq(rs.results_count, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(rs.results[i].id.len == ids[i].len &&
                          memcmp(rs.results[i].id.ptr, ids[i].ptr, ids[i].len) == 0,
                      "result %zu names another id", i);
        ck_assert_msg(rs.results[i].code == (uint32_t)want[i], "id %zu (%.*s): code %u, want %d", i,
                      (int)ids[i].len, (const char *)ids[i].ptr, rs.results[i].code, want[i]);
    }
    pw_msg_arena_deinit(&a);
    return allocs;
}

START_TEST(ack_across_partitions_answers_in_order)
{
    start();
    pw_pb_bytes leased[ACK_PARTS];
    char mem[ACK_PARTS][Q_ID_STR_BYTES];
    uint64_t tok[ACK_PARTS];
    for (uint32_t p = 0; p < ACK_PARTS; p++) {
        enqueue(Q[p]);
        lease(Q[p], 1, &leased[p], &mem[p], &tok[p]);
    }
    /* Partitions out of order, interleaved with ids no partition holds: not an id at all
     * (answered on the origin, INVALID_ARGUMENT), an id of a partition that does not exist
     * (NOT_FOUND), an id of partition 1 that was never written (NOT_FOUND, from its owner). */
    pw_pb_bytes ids[] = {leased[2], ts_str("garbage"),  leased[0], ts_str("9-1"),
                         leased[3], ts_str("1-999999"), leased[1]};
    uint64_t tokens[] = {tok[2], 0, tok[0], 0, tok[3], 0, tok[1]};
    q_status want[] = {Q_OK, Q_INVALID_ARGUMENT, Q_OK, Q_NOT_FOUND, Q_OK, Q_NOT_FOUND, Q_OK};
    ack(ids, tokens, sizeof ids / sizeof ids[0], want, false);
    for (uint32_t p = 0; p < ACK_PARTS; p++) { /* acked: nothing left of any queue */
        uint32_t k = q_part_of(Q[p], strlen(Q[p]), srv_q.nparts);
        q_queue_info qi;
        q_err e;
        ck_assert_int_eq(
            q_part_get_queue(ts_part(k)->p, Q[p], strlen(Q[p]), srv_q_now_ms(), &qi, &e), Q_OK);
        ck_assert_uint_eq(qi.ready + qi.leased, 0);
    }
    stop();
}
END_TEST

START_TEST(ack_share_costs_one_allocation)
{
    start();
    static const q_status ok[ACK_PARTS] = {Q_OK, Q_OK, Q_OK, Q_OK};
    uint64_t one_min = UINT64_MAX, spread_min = UINT64_MAX;
    for (uint32_t r = 0; r < ACK_REPEATS; r++) {
        pw_pb_bytes ids[ACK_PARTS];
        char mem[ACK_PARTS][Q_ID_STR_BYTES];
        uint64_t tok[ACK_PARTS];
        /* ACK_PARTS ids on partition 0 alone. */
        for (uint32_t p = 0; p < ACK_PARTS; p++) enqueue(Q[0]);
        lease(Q[0], ACK_PARTS, ids, mem, tok);
        uint64_t one = ack(ids, tok, ACK_PARTS, ok, true);
        /* As many ids, one on each partition. */
        for (uint32_t p = 0; p < ACK_PARTS; p++) {
            enqueue(Q[p]);
            lease(Q[p], 1, &ids[p], &mem[p], &tok[p]);
        }
        uint64_t spread = ack(ids, tok, ACK_PARTS, ok, true);
        one_min = one < one_min ? one : one_min;
        spread_min = spread < spread_min ? spread : spread_min;
    }
    /* Each partition beyond the first adds its job, nothing more (it used to add the job's
     * argument array and the owner's three arrays: 5 each). */
    ck_assert_msg(spread_min <= one_min + (ACK_PARTS - 1),
                  "an Ack over %u partitions made %llu allocations, over 1 partition %llu",
                  ACK_PARTS, (unsigned long long)spread_min, (unsigned long long)one_min);
    ck_assert_uint_gt(one_min, 0); /* the count saw the server at all */
    stop();
}
END_TEST

int main(void)
{
    ts_require_uring("test_srv_ack"); /* exits 77 (skip) without io_uring */
    Suite *s = suite_create("srv_ack");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, ack_across_partitions_answers_in_order);
    tcase_add_test(tc, ack_share_costs_one_allocation);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
