/* Unit tests for worker/wk_mpmc (Vyukov ring) and worker/wk_park (the futex event count the pool
 * sleeps on): sizes, FIFO, full/empty, wrap-around, and multi-producer multi-consumer stress
 * that checks exactly-once delivery and per-producer order as seen by each consumer. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "worker/wk_mpmc.h"
#include "worker/wk_park.h"
#include "ts_main.h"

#if defined(__SANITIZE_THREAD__)
#define WK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WK_TSAN 1
#endif
#endif
#ifdef WK_TSAN
#define STRESS_ITEMS 200000ull
#else
#define STRESS_ITEMS 4000000ull
#endif
#define PRODUCERS_MAX 8
#define CONSUMERS_MAX 8

START_TEST(init_rejects_bad_sizes)
{
    wk_mpmc q;
    ck_assert_int_eq(wk_mpmc_init(&q, 1, 8), -EINVAL);
    ck_assert_int_eq(wk_mpmc_init(&q, 6, 8), -EINVAL);
    ck_assert_int_eq(wk_mpmc_init(&q, 8, 0), -EINVAL);
    ck_assert_int_eq(wk_mpmc_init(&q, 8, WK_MPMC_ELEM_BYTES_MAX + 1), -EINVAL);
    ck_assert_int_eq(wk_mpmc_init(&q, 8, 12), 0);
    ck_assert_uint_eq(q.stride, 24);
    wk_mpmc_deinit(&q);
}
END_TEST

START_TEST(fifo_full_empty_and_wrap)
{
    wk_mpmc q;
    ck_assert_int_eq(wk_mpmc_init(&q, 4, sizeof(uint64_t)), 0);
    uint64_t v, next_in = 0, next_out = 0;
    ck_assert(!wk_mpmc_pop(&q, &v));
    for (int round = 0; round < 100; round++) {
        int n = round % 5;
        for (int i = 0; i < n; i++) {
            if (wk_mpmc_push(&q, &next_in)) next_in++;
            else ck_assert_uint_eq(next_in - next_out, 4); /* refused only when full */
        }
        int m = (round * 3) % 5;
        for (int i = 0; i < m; i++) {
            if (!wk_mpmc_pop(&q, &v)) {
                ck_assert_uint_eq(next_in, next_out); /* refused only when empty */
                break;
            }
            ck_assert_uint_eq(v, next_out);
            next_out++;
        }
        ck_assert_uint_eq(wk_mpmc_size_approx(&q), next_in - next_out);
    }
    ck_assert_uint_gt(next_out, 40);
    wk_mpmc_deinit(&q);
}
END_TEST

/* ---- stress: P producers, C consumers ---- */

typedef struct stress stress;
typedef struct {
    stress *s;
    int id;
    uint64_t bad_order;
    uint64_t got;
} role;

struct stress {
    wk_mpmc q;
    int np, nc;
    uint64_t per_producer;
    _Atomic uint64_t consumed;
    _Atomic uint8_t *seen; /* per item: times delivered */
    role prod[PRODUCERS_MAX], cons[CONSUMERS_MAX];
};

static void *stress_producer(void *p)
{
    role *r = p;
    stress *s = r->s;
    for (uint64_t i = 0; i < s->per_producer; i++) {
        uint64_t item = ((uint64_t)r->id << 48) | i;
        while (!wk_mpmc_push(&s->q, &item)) sched_yield();
    }
    return NULL;
}

static void *stress_consumer(void *p)
{
    role *r = p;
    stress *s = r->s;
    uint64_t total = s->per_producer * (uint64_t)s->np;
    int64_t last[PRODUCERS_MAX];
    for (int i = 0; i < PRODUCERS_MAX; i++) last[i] = -1;
    /* Relaxed: only a termination hint; each item is claimed by exactly one pop. */
    while (atomic_load_explicit(&s->consumed, memory_order_relaxed) < total) {
        uint64_t item;
        if (!wk_mpmc_pop(&s->q, &item)) {
            sched_yield();
            continue;
        }
        atomic_fetch_add_explicit(&s->consumed, 1, memory_order_relaxed);
        int pid = (int)(item >> 48);
        int64_t seq = (int64_t)(item & ((1ull << 48) - 1));
        if (seq <= last[pid]) r->bad_order++;
        last[pid] = seq;
        /* Relaxed: a per-item counter; the test reads it after joining. */
        atomic_fetch_add_explicit(&s->seen[(uint64_t)pid * s->per_producer + (uint64_t)seq], 1,
                                  memory_order_relaxed);
        r->got++;
    }
    return NULL;
}

static void run_stress(int np, int nc, uint32_t cap)
{
    stress *s = calloc(1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(wk_mpmc_init(&s->q, cap, sizeof(uint64_t)), 0);
    s->np = np;
    s->nc = nc;
    s->per_producer = STRESS_ITEMS / (uint64_t)np;
    uint64_t total = s->per_producer * (uint64_t)np;
    s->seen = calloc(total, 1);
    ck_assert_ptr_nonnull(s->seen);
    pthread_t th[PRODUCERS_MAX + CONSUMERS_MAX];
    for (int i = 0; i < nc; i++) {
        s->cons[i] = (role){.s = s, .id = i};
        ck_assert_int_eq(pthread_create(&th[np + i], NULL, stress_consumer, &s->cons[i]), 0);
    }
    for (int i = 0; i < np; i++) {
        s->prod[i] = (role){.s = s, .id = i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, stress_producer, &s->prod[i]), 0);
    }
    for (int i = 0; i < np + nc; i++) pthread_join(th[i], NULL);
    uint64_t got = 0;
    for (int i = 0; i < nc; i++) {
        ck_assert_uint_eq(s->cons[i].bad_order, 0);
        got += s->cons[i].got;
    }
    ck_assert_uint_eq(got, total);
    for (uint64_t i = 0; i < total; i++)
        if (atomic_load_explicit(&s->seen[i], memory_order_relaxed) != 1)
            ck_abort_msg("item %llu delivered %u times", (unsigned long long)i,
                         (unsigned)atomic_load_explicit(&s->seen[i], memory_order_relaxed));
    uint64_t v;
    ck_assert(!wk_mpmc_pop(&s->q, &v));
    wk_mpmc_deinit(&s->q);
    free(s->seen);
    free(s);
}

START_TEST(stress_2p2c) { run_stress(2, 2, 1024); }
END_TEST
START_TEST(stress_4p4c_small_ring) { run_stress(4, 4, 16); }
END_TEST
START_TEST(stress_8p1c) { run_stress(8, 1, 256); }
END_TEST

/* ---- wk_park: ping-pong with no lost wake-up ---- */

#ifdef WK_TSAN
#define PINGS 20000u
#else
#define PINGS 200000u
#endif

typedef struct {
    wk_park park[2];
    _Atomic uint32_t turn; /* whose turn: 0 or 1 */
    uint32_t done[2];
} pingpong;

typedef struct {
    pingpong *pp;
    uint32_t me;
} ping_arg;

static void *ping_main(void *p)
{
    ping_arg *a = p;
    pingpong *pp = a->pp;
    for (uint32_t i = 0; i < PINGS; i++) {
        for (;;) {
            /* Acquire: pairs with the other side's release store of turn. */
            if (atomic_load_explicit(&pp->turn, memory_order_acquire) == a->me) break;
            uint32_t key = wk_park_prepare(&pp->park[a->me]);
            if (atomic_load_explicit(&pp->turn, memory_order_acquire) == a->me) {
                wk_park_cancel(&pp->park[a->me]);
                break;
            }
            wk_park_wait(&pp->park[a->me], key);
        }
        pp->done[a->me]++;
        /* Release: our work is visible to the other side when it sees its turn. */
        atomic_store_explicit(&pp->turn, 1 - a->me, memory_order_release);
        wk_park_notify(&pp->park[1 - a->me], false);
    }
    return NULL;
}

START_TEST(park_ping_pong_never_loses_a_wake_up)
{
    pingpong pp;
    wk_park_init(&pp.park[0]);
    wk_park_init(&pp.park[1]);
    atomic_store_explicit(&pp.turn, 0, memory_order_relaxed);
    pp.done[0] = pp.done[1] = 0;
    ping_arg a0 = {&pp, 0}, a1 = {&pp, 1};
    pthread_t t0, t1;
    ck_assert_int_eq(pthread_create(&t0, NULL, ping_main, &a0), 0);
    ck_assert_int_eq(pthread_create(&t1, NULL, ping_main, &a1), 0);
    pthread_join(t0, NULL);
    pthread_join(t1, NULL);
    ck_assert_uint_eq(pp.done[0], PINGS);
    ck_assert_uint_eq(pp.done[1], PINGS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("wk_mpmc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, init_rejects_bad_sizes);
    tcase_add_test(tc, fifo_full_empty_and_wrap);
    tcase_add_test(tc, stress_2p2c);
    tcase_add_test(tc, stress_4p4c_small_ring);
    tcase_add_test(tc, stress_8p1c);
    tcase_add_test(tc, park_ping_pong_never_loses_a_wake_up);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
