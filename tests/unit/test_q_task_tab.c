/* queue/q_task_tab: slab + id index (growth, backward-shift deletion, slot reuse) and the timer
 * heap (order by (due, id), removal from the middle, re-keying), against a plain model. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/q_task_tab.h"
#include "ts_main.h"

#define N 50000u

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

START_TEST(index_insert_delete_find)
{
    q_task_tab tt;
    ck_assert_int_eq(q_task_tab_init(&tt), 0);
    static uint64_t ids[N];
    static uint32_t slot[N];
    static bool live[N];
    /* Dense runs with gaps, then sparse ids far away: both shapes the log produces. */
    for (uint32_t i = 0; i < N; i++) /* unique: run i owns [977 i, 977 (i + 1)) */
        ids[i] = i < N / 2 ? i * 3 + (i % 7 == 0) : (1ull << 40) + i * 977ull + next_rand() % 977;
    for (uint32_t i = 0; i < N; i++) {
        ck_assert_uint_eq(q_task_find(&tt, ids[i]), Q_NIL);
        slot[i] = q_task_new(&tt, ids[i]);
        ck_assert_uint_ne(slot[i], Q_NIL);
        q_task_at(&tt, slot[i])->state = 1;
        live[i] = true;
    }
    uint32_t nlive = tt.live;
    for (uint32_t i = 0; i < N; i++) {
        ck_assert_uint_eq(q_task_find(&tt, ids[i]), slot[i]);
        if (next_rand() % 3 == 0) {
            q_task_free(&tt, slot[i]);
            live[i] = false;
            nlive--;
        }
    }
    ck_assert_uint_eq(tt.live, nlive);
    for (uint32_t i = 0; i < N; i++)
        ck_assert_uint_eq(q_task_find(&tt, ids[i]), live[i] ? slot[i] : Q_NIL);
    /* Freed slots are reused before the slab grows. */
    uint32_t used = tt.used;
    for (uint32_t k = 0; k < N - nlive && k < 1000; k++) {
        uint32_t s = q_task_new(&tt, (1ull << 50) + k);
        ck_assert_uint_lt(s, used);
        q_task_at(&tt, s)->state = 1;
    }
    ck_assert_uint_eq(tt.used, used);
    for (uint32_t k = 0; k < 1000; k++)
        ck_assert_uint_eq(q_task_at(&tt, q_task_find(&tt, (1ull << 50) + k))->id, (1ull << 50) + k);
    ck_assert_uint_le((uint64_t)tt.live * 100, (uint64_t)tt.nslots * Q_TAB_LOAD_PCT);
    q_task_tab_deinit(&tt);
}
END_TEST

START_TEST(heap_orders_by_due_then_id)
{
    q_task_tab tt;
    ck_assert_int_eq(q_task_tab_init(&tt), 0);
    enum { M = 5000 };
    static uint32_t s[M];
    ck_assert_int_eq(q_task_tab_reserve(&tt, M), 0);
    for (uint32_t i = 0; i < M; i++) {
        s[i] = q_task_new(&tt, i);
        q_task_at(&tt, s[i])->due = next_rand() % 100; /* many ties */
        q_heap_push(&tt, s[i]);
    }
    /* Remove some from the middle, re-key others. */
    for (uint32_t i = 0; i < M; i += 7) q_heap_remove(&tt, s[i]);
    for (uint32_t i = 3; i < M; i += 11) {
        if (q_task_at(&tt, s[i])->heap == Q_NIL) continue;
        q_task_at(&tt, s[i])->due = next_rand() % 100;
        q_heap_fix(&tt, s[i]);
    }
    uint64_t last_due = 0, last_id = 0;
    uint32_t popped = 0;
    for (uint32_t top; (top = q_heap_top(&tt)) != Q_NIL; popped++) {
        const q_task *t = q_task_at(&tt, top);
        ck_assert(t->due > last_due || (t->due == last_due && (popped == 0 || t->id > last_id)));
        last_due = t->due;
        last_id = t->id;
        q_heap_remove(&tt, top);
        ck_assert_uint_eq(t->heap, Q_NIL);
    }
    ck_assert_uint_eq(popped, M - (M + 6) / 7);
    q_task_tab_deinit(&tt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("q_task_tab");
    TCase *tc = tcase_create("tab");
    tcase_add_test(tc, index_insert_delete_find);
    tcase_add_test(tc, heap_orders_by_due_then_id);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
