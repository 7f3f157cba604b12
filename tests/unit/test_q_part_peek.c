/* queue/q_part_peek: ready tasks in lease order, delayed tasks in due order, limits, the byte
 * budget, errors, and that peeking changes nothing. */
#include <inttypes.h>

#include "test_q_part_util.h"

#include "core/rt_log.h"

#define SEG (256u * 1024u)
#define ALL (Q_PEEK_READY | Q_PEEK_DELAYED)

static uint32_t tp_peek(tp *t, const char *q, uint32_t states, uint32_t max, q_task_info *out,
                        bool *more)
{
    uint32_t n = 99;
    q_err e;
    ck_assert_int_eq(q_part_peek(t->p, q, strlen(q), states, max, SIZE_MAX, 0, out, &n, more, &e),
                     Q_OK);
    ck_assert_uint_le(n, max);
    return n;
}

static uint64_t tp_enq_delayed(tp *t, const char *q, const char *body, uint64_t delay_ms)
{
    q_task_spec s = {.payload = (const uint8_t *)body,
                     .payload_len = (uint32_t)strlen(body),
                     .delay_ms = delay_ms};
    q_enq_result r;
    ck_assert_int_eq(tp_enq_spec(t, q, &s, T0, &r), Q_OK);
    return r.id;
}

static void on_ready_count(void *ud, q_part *p, const char *name, uint32_t len, uint64_t ready)
{
    (void)p;
    (void)name;
    (void)len;
    (void)ready;
    (*(uint32_t *)ud)++;
}

START_TEST(ready_in_lease_order_and_nothing_changes)
{
    tp t;
    tp_open(&t, SEG);
    static const uint32_t prio[] = {0, 5, 15, 5, 0, 15, 7, 5};
    enum { N = sizeof prio / sizeof prio[0] };
    for (int i = 0; i < N; i++) {
        char body[16];
        snprintf(body, sizeof body, "t%d", i);
        tp_enq(&t, "q", body, prio[i], T0);
    }
    uint32_t woken = 0;
    q_part_drain_ready(t.p, on_ready_count, &woken);
    q_queue_info before = tp_info(&t, "q", T0);
    uint64_t next_before = q_part_next_ms(t.p);
    uint64_t log_before = q_log_next(q_part_log(t.p));

    q_task_info ti[N];
    bool more;
    uint32_t n = tp_peek(&t, "q", Q_PEEK_READY, N, ti, &more);
    ck_assert_uint_eq(n, N);
    ck_assert(!more);
    /* Priority 15 first (t2, t5), then 7 (t6), 5 (t1, t3, t7), 0 (t0, t4). */
    static const char *want[N] = {"t2", "t5", "t6", "t1", "t3", "t7", "t0", "t4"};
    for (int i = 0; i < N; i++) {
        ck_assert_uint_eq(ti[i].payload_len, strlen(want[i]));
        ck_assert(memcmp(ti[i].payload, want[i], ti[i].payload_len) == 0);
        ck_assert_int_eq(ti[i].state, Q_TASK_READY);
        ck_assert_uint_eq(ti[i].due_ms, 0);
        ck_assert_uint_eq(ti[i].enqueued_ms, T0);
        ck_assert(ti[i].queue_len == 1 && ti[i].queue[0] == 'q');
    }
    /* Nothing changed: figures, the log, the timer, the wake-up set. */
    q_queue_info after = tp_info(&t, "q", T0);
    ck_assert_uint_eq(after.ready, before.ready);
    ck_assert_uint_eq(after.leased, 0);
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), log_before);
    ck_assert_uint_eq(q_part_next_ms(t.p), next_before);
    woken = 0;
    ck_assert_uint_eq(q_part_drain_ready(t.p, on_ready_count, &woken), 0);

    /* A lease afterwards hands out exactly what the peek showed, in that order. */
    uint64_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = ti[i].id;
    q_leased l[N];
    ck_assert_uint_eq(tp_lease(&t, "q", 3, 0, T0, l), 3);
    for (int i = 0; i < 3; i++) ck_assert_uint_eq(l[i].id, ids[i]);
    /* Leased tasks are not listed; a nacked one goes to the back of its priority. */
    n = tp_peek(&t, "q", ALL, N, ti, &more);
    ck_assert_uint_eq(n, N - 3);
    ck_assert_uint_eq(ti[0].id, ids[3]);
    q_nack nk = {.has_delay = true, .delay_ms = 0};
    q_nack_result nr;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_nack(t.p, ids[2], tp_tok(&t, ids[2]), &nk, T0, &nr, &commit, &e),
                     Q_OK); /* t6, prio 7 */
    ck_assert_int_eq(nr.state, Q_TASK_READY);
    n = tp_peek(&t, "q", Q_PEEK_READY, N, ti, &more);
    ck_assert_uint_eq(n, N - 2);
    ck_assert_uint_eq(ti[0].id, ids[2]); /* alone at priority 7, ahead of the 5s */
    ck_assert_uint_eq(ti[0].attempts, 1);
    ck_assert_uint_eq(tp_lease(&t, "q", N, 0, T0, l), N - 2);
    for (uint32_t i = 0; i < N - 2; i++) ck_assert_uint_eq(l[i].id, ti[i].id);
    tp_done(&t);
}
END_TEST

START_TEST(delayed_in_due_order)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t a = tp_enq_delayed(&t, "q", "a", 300);
    uint64_t b = tp_enq_delayed(&t, "q", "b", 100);
    uint64_t c = tp_enq_delayed(&t, "q", "c", 200);
    uint64_t d = tp_enq_delayed(&t, "q", "d", 100); /* same due as b: id order */
    uint64_t r = tp_enq(&t, "q", "r", 0, T0);
    uint64_t lz = tp_enq(&t, "q", "leased", 9, T0);
    ck_assert_uint_eq(tp_lease1(&t, "q", 60000, T0), lz); /* in the waiting list: never listed */
    q_task_info ti[8];
    bool more;
    uint32_t n = tp_peek(&t, "q", Q_PEEK_DELAYED, 8, ti, &more);
    ck_assert_uint_eq(n, 4);
    ck_assert(!more);
    uint64_t want[4] = {b, d, c, a};
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(ti[i].id, want[i]);
        ck_assert_int_eq(ti[i].state, Q_TASK_DELAYED);
    }
    ck_assert_uint_eq(ti[0].due_ms, T0 + 100);
    ck_assert_uint_eq(ti[3].due_ms, T0 + 300);
    /* Both: ready first, then delayed. */
    n = tp_peek(&t, "q", ALL, 8, ti, &more);
    ck_assert_uint_eq(n, 5);
    ck_assert_uint_eq(ti[0].id, r);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(ti[i + 1].id, want[i]);
    /* The limit cuts across the two: ready r, then the earliest delayed. */
    n = tp_peek(&t, "q", ALL, 2, ti, &more);
    ck_assert_uint_eq(n, 2);
    ck_assert(more);
    ck_assert(ti[0].id == r && ti[1].id == b);
    n = tp_peek(&t, "q", Q_PEEK_DELAYED, 3, ti, &more);
    ck_assert(n == 3 && more);
    ck_assert(ti[0].id == b && ti[1].id == d && ti[2].id == c);
    /* The timer makes them ready in that order: after r, b then d. */
    ck_assert_uint_eq(tp_tick(&t, T0 + 150) <= T0 + 200, true);
    n = tp_peek(&t, "q", Q_PEEK_READY, 8, ti, &more);
    ck_assert_uint_eq(n, 3);
    ck_assert(ti[0].id == r && ti[1].id == b && ti[2].id == d);
    n = tp_peek(&t, "q", Q_PEEK_DELAYED, 8, ti, &more);
    ck_assert(n == 2 && ti[0].id == c && ti[1].id == a);
    tp_done(&t);
}
END_TEST

/* Many delayed tasks with shuffled dues: the bounded heap picks the k earliest, sorted. */
START_TEST(delayed_many_bounded_selection)
{
    tp t;
    tp_open(&t, 4u << 20);
    enum { N = 600, K = 37 };
    uint64_t ids[N], due[N];
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t d = 1 + (x >> 33) % 200; /* many equal dues: ties by id */
        ids[i] = tp_enq_delayed(&t, "q", "x", d);
        due[i] = T0 + d;
    }
    /* Expected: sort (due, id) ascending (insertion sort: N is small). */
    int ord[N];
    for (int i = 0; i < N; i++) {
        int j = i;
        while (j > 0 && (due[ord[j - 1]] > due[i] ||
                         (due[ord[j - 1]] == due[i] && ids[ord[j - 1]] > ids[i]))) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = i;
    }
    static q_task_info ti[Q_PAGE_MAX];
    bool more;
    uint32_t n = tp_peek(&t, "q", Q_PEEK_DELAYED, K, ti, &more);
    ck_assert(n == K && more);
    for (int i = 0; i < K; i++) {
        ck_assert_uint_eq(ti[i].id, ids[ord[i]]);
        ck_assert_uint_eq(ti[i].due_ms, due[ord[i]]);
    }
    n = tp_peek(&t, "q", Q_PEEK_DELAYED, Q_PAGE_MAX, ti, &more);
    ck_assert(n == N && !more);
    for (int i = 0; i < N; i++) ck_assert_uint_eq(ti[i].id, ids[ord[i]]);
    tp_done(&t);
}
END_TEST

START_TEST(budget_paused_dead_and_errors)
{
    tp t;
    tp_open(&t, SEG);
    char big[1000];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 5; i++) tp_enq(&t, "q", big, 0, T0);
    q_task_info ti[8];
    uint32_t n;
    bool more;
    q_err e;
    /* Budget: 2500 bytes of 1009-byte tasks (999 payload + 10 per task) -> 2; the first always. */
    ck_assert_int_eq(q_part_peek(t.p, "q", 1, ALL, 8, 2500, 10, ti, &n, &more, &e), Q_OK);
    ck_assert(n == 2 && more);
    ck_assert_int_eq(q_part_peek(t.p, "q", 1, ALL, 8, 1, 10, ti, &n, &more, &e), Q_OK);
    ck_assert(n == 1 && more);
    ck_assert_uint_eq(ti[0].payload_len, sizeof big - 1);

    /* Paused: listed all the same (what would go once resumed); dead: never. */
    q_queue_info qi;
    uint64_t commit;
    ck_assert_int_eq(q_part_pause(t.p, "q", 1, true, T0, &qi, &commit, &e), Q_OK);
    ck_assert_uint_eq(tp_peek(&t, "q", Q_PEEK_READY, 8, ti, &more), 5);
    ck_assert_int_eq(q_part_pause(t.p, "q", 1, false, T0, &qi, &commit, &e), Q_OK);
    uint64_t id = tp_lease1(&t, "q", 0, T0);
    q_nack dead = {.dead_letter = true};
    q_nack_result nr;
    ck_assert_int_eq(q_part_nack(t.p, id, tp_tok(&t, id), &dead, T0, &nr, &commit, &e), Q_OK);
    ck_assert_uint_eq(tp_peek(&t, "q", ALL, 8, ti, &more), 4);
    for (int i = 0; i < 4; i++) ck_assert_uint_ne(ti[i].id, id);

    /* An empty but known queue: nothing, no error. */
    q_queue_cfg c = {.max_attempts = 3};
    tp_cfg(&t, "empty", Q_CFG_MAX_ATTEMPTS, &c);
    ck_assert_uint_eq(tp_peek(&t, "empty", ALL, 8, ti, &more), 0);
    ck_assert(!more);

    ck_assert_int_eq(q_part_peek(t.p, "nope", 4, ALL, 8, SIZE_MAX, 0, ti, &n, &more, &e),
                     Q_NOT_FOUND);
    ck_assert(strstr(e.msg, "nope"));
    ck_assert_int_eq(q_part_peek(t.p, "a/b", 3, ALL, 8, SIZE_MAX, 0, ti, &n, &more, &e),
                     Q_INVALID_ARGUMENT);
    ck_assert_int_eq(q_part_peek(t.p, "q", 1, ALL, 0, SIZE_MAX, 0, ti, &n, &more, &e),
                     Q_INVALID_ARGUMENT);
    ck_assert_int_eq(q_part_peek(t.p, "q", 1, ALL, Q_PAGE_MAX + 1, SIZE_MAX, 0, ti, &n, &more, &e),
                     Q_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "1..1000"));
    ck_assert_int_eq(q_part_peek(t.p, "q", 1, 0, 8, SIZE_MAX, 0, ti, &n, &more, &e),
                     Q_INVALID_ARGUMENT);
    ck_assert_int_eq(q_part_peek(t.p, "q", 1, 4, 8, SIZE_MAX, 0, ti, &n, &more, &e),
                     Q_INVALID_ARGUMENT);
    ck_assert_uint_eq(n, 0);
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {ready_in_lease_order_and_nothing_changes, delayed_in_due_order,
                            delayed_many_bounded_selection, budget_paused_dead_and_errors};
    return tq_run("q_part_peek", "peek", 30, tests, sizeof tests / sizeof tests[0]);
}
